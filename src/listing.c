/*-------------------------------------------------------------------------
 *
 * listing.c
 *	  list_sessions: keyset pagination over an app's (or a user's) sessions,
 *	  most recently updated first, or (1.1, ascending) least recently first.
 *
 * Order: update_time DESC, user_id, session_id.  A page token names the
 * position of one row; the next page is the rows after it in that order:
 * first those with the same update_time and a greater (user_id, session_id),
 * then those with an older update_time.  Each part is one bounded range
 * scan of a listing index (sessions_app_recent_idx, or for one user
 * sessions_user_recent_idx), so a page costs O(page_size) at any table
 * size.  No OFFSET anywhere.
 *
 * Ascending (1.1): the exact reverse, update_time ASC, user_id DESC,
 * session_id DESC, so that each part is the same range of the same index
 * read backwards: still O(page_size), and no third index for every append
 * to maintain.  The next page is the rows with the same update_time and a
 * smaller (user_id, session_id), then those with a newer update_time.
 *
 * A token is base64url of: format byte (1 descending, 2 ascending), update_time (int64, big-endian),
 * user_id and session_id (each a length byte and its bytes), and a 32-bit
 * check over all that plus the listing it came from (app_name and the user
 * filter).  A token that does not decode, or that comes from another
 * listing, or from the same listing in the other order, is rejected with
 * 22023: it is opaque, not secret.
 *
 * No lock is taken; the two parts of a page run on the caller's snapshot.
 *
 * list_sessions_with_state (1.2) lists the same rows in the same order, with
 * the same tokens, each row with the session's merged state, exactly as
 * get_session merges it (ss_merged_state): the same page scan, plus for
 * each listed row its user's state (a primary key probe, joined in the
 * page's query) and, once per call, the app's.  O(page_size) still.
 *
 * count_sessions (1.1) counts an app's (or a user's) sessions with one
 * range of the sessions primary key, whose leading columns are app_name
 * and user_id: O(number of sessions counted), index-only where the
 * visibility map allows.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/builtins.h"

#define TOKEN_FORMAT_DESC 1
#define TOKEN_FORMAT_ASC 2
#define TOKEN_SEED UINT64CONST(0x6c6973745f746f6b)
/* format + time + 2 length bytes + 2 ids + check */
#define TOKEN_MAX_BYTES (1 + 8 + 2 + 2 * SS_MAX_ID_BYTES + 4)

/* A decoded page token: the position of the last row of a page. */
typedef struct PagePosition
{
	TimestampTz update_time;
	text	   *user_id;
	text	   *session_id;
} PagePosition;

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url (no padding) of len bytes of src, NUL-terminated, palloc'd. */
static char *
Base64UrlEncode(const unsigned char *src, int len)
{
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	int			i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
		*p++ = b64url[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = src[i] << 16;

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8);

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

/* Decode base64url into dst (room for dstlen bytes); -1 if malformed. */
static int
Base64UrlDecode(const char *src, int len, unsigned char *dst, int dstlen)
{
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;

	if (len % 4 == 1)
		return -1;
	for (int i = 0; i < len; i++)
	{
		const char *pos = memchr(b64url, src[i], 64);

		if (src[i] == '\0' || pos == NULL)
			return -1;
		acc = (acc << 6) | (uint32) (pos - b64url);
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n >= dstlen)
				return -1;
			dst[n++] = (unsigned char) (acc >> bits);
		}
	}
	/* leftover bits must be zero, or the text was not what we encode */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return n;
}

/* The check of a token body, bound to its listing (app_name, user filter). */
static uint32
TokenCheck(const unsigned char *body, int len, text *app_name, text *user_filter)
{
	uint64		h = hash_bytes_extended(body, len, TOKEN_SEED);

	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) VARDATA_ANY(app_name),
											  VARSIZE_ANY_EXHDR(app_name), TOKEN_SEED));
	if (user_filter != NULL)
		h = hash_combine64(h, hash_bytes_extended((const unsigned char *) VARDATA_ANY(user_filter),
												  VARSIZE_ANY_EXHDR(user_filter),
												  TOKEN_SEED + 1));
	return (uint32) h;
}

/*
 * Append an id (a value read back from session_store.sessions) to a token
 * being built in buf (size bytes), preceded by its length byte.  The table
 * is trusted no further than the arguments: an id out of 1..SS_MAX_ID_BYTES,
 * however it got there, is an error, never a write past the buffer.
 */
static int
PutId(unsigned char *buf, int size, int pos, text *id, const char *column)
{
	int			len = VARSIZE_ANY_EXHDR(id);

	if (len < 1 || len > SS_MAX_ID_BYTES || pos + 1 + len > size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("session_store.sessions holds a %s of %d bytes", column, len),
				 errdetail("Identifiers are 1 to %d bytes long; this row was not written by session_store.",
						   SS_MAX_ID_BYTES)));
	buf[pos++] = (unsigned char) len;
	memcpy(buf + pos, VARDATA_ANY(id), len);
	return pos + len;
}

/* The page token of a row of the listing (app_name, user_filter) in one order. */
static text *
EncodeToken(unsigned char format, TimestampTz update_time, text *user_id,
			text *session_id, text *app_name, text *user_filter)
{
	unsigned char buf[TOKEN_MAX_BYTES];
	uint64		t = (uint64) update_time;
	uint32		check;
	int			n = 0;

	buf[n++] = format;
	for (int shift = 56; shift >= 0; shift -= 8)
		buf[n++] = (unsigned char) (t >> shift);
	n = PutId(buf, sizeof(buf) - 4, n, user_id, "user_id");
	n = PutId(buf, sizeof(buf) - 4, n, session_id, "session_id");
	check = TokenCheck(buf, n, app_name, user_filter);
	for (int shift = 24; shift >= 0; shift -= 8)
		buf[n++] = (unsigned char) (check >> shift);
	return cstring_to_text(Base64UrlEncode(buf, n));
}

/* Read an id at *pos (length byte, then bytes); NULL if it does not fit. */
static text *
GetId(const unsigned char *buf, int end, int *pos)
{
	int			len;
	text	   *id;

	if (*pos >= end)
		return NULL;
	len = buf[(*pos)++];
	if (len < 1 || len > SS_MAX_ID_BYTES || *pos + len > end)
		return NULL;
	id = cstring_to_text_with_len((const char *) buf + *pos, len);
	*pos += len;
	return id;
}

/*
 * Decode a page token of the listing (app_name, user_filter) in the order
 * of format, or 22023.
 */
static void
DecodeToken(text *token, unsigned char format, text *app_name,
			text *user_filter, PagePosition *pos)
{
	unsigned char buf[TOKEN_MAX_BYTES + 3];
	int			len = VARSIZE_ANY_EXHDR(token);
	int			n = -1;
	int			p = 1;
	uint64		t = 0;
	uint32		check = 0;

	if (len <= (TOKEN_MAX_BYTES + 2) / 3 * 4)
		n = Base64UrlDecode(VARDATA_ANY(token), len, buf, sizeof(buf));
	if (n < 1 + 8 + 4 ||
		(buf[0] != TOKEN_FORMAT_DESC && buf[0] != TOKEN_FORMAT_ASC))
		goto bad;
	for (int i = 0; i < 8; i++)
		t = (t << 8) | buf[p++];
	if ((pos->user_id = GetId(buf, n - 4, &p)) == NULL ||
		(pos->session_id = GetId(buf, n - 4, &p)) == NULL ||
		p != n - 4)
		goto bad;
	for (int i = 0; i < 4; i++)
		check = (check << 8) | buf[p++];
	if (check != TokenCheck(buf, n - 4, app_name, user_filter))
		goto bad;
	if (buf[0] != format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid page token"),
				 errdetail("This page token was returned by list_sessions with ascending => %s; pass the same ascending to continue that listing.",
						   buf[0] == TOKEN_FORMAT_ASC ? "true" : "false")));
	pos->update_time = (TimestampTz) t;
	return;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid page token"),
			 errdetail("A page token must be a next_page_token returned by list_sessions for the same app_name and user_id.")));
}

/* The columns of a listing query's result, as ss_exec checked them. */
static const char *const list_columns[6] = {
	"user_id", "session_id", "version", "last_seq", "create_time", "update_time"
};

/* What a page is being listed for, and with. */
typedef struct Listing
{
	ReturnSetInfo *rsinfo;
	unsigned char format;
	text	   *app_name;
	text	   *user_filter;
	bool		with_state;
	bool		app_state_read; /* with_state: app_state looked up */
	Jsonb	   *app_state;		/* ... NULL when the app has none */
	MemoryContext rowcxt;		/* with_state: reset after every row */
} Listing;

/*
 * with_state: the app's state, read once per call (every listed session
 * belongs to the app), on the statement's snapshot like the pages, and
 * copied to the call's memory.  Distributed, app_states lives on its own
 * shard: this is the query get_session runs there too.
 */
static void
ReadAppState(SsCall *call, Listing *l)
{
	Datum		args[1];
	bool		isnull = true;
	Datum		d = (Datum) 0;

	args[0] = PointerGetDatum(l->app_name);
	if (ss_exec(Q_APP_STATE_GET, args, NULL, true) > 0)
		d = ss_result_datum(call, 0, 1, &isnull);
	l->app_state = isnull ? NULL : DatumGetJsonbP(d);
	l->app_state_read = true;
}

/*
 * Add the rows of the last SPI result to the result set, each with its
 * page token and, with_state, its merged state; returns how many.
 */
static int
EmitRows(SsCall *call, Listing *l)
{
	SPITupleTable *tuptable = SPI_tuptable;
	uint64		nrows = SPI_processed;

	if (l->with_state && nrows > 0 && !l->app_state_read)
		ReadAppState(call, l);
	for (uint64 row = 0; row < nrows; row++)
	{
		Datum		values[9];
		bool		nulls[9];
		MemoryContext old = MemoryContextSwitchTo(l->rowcxt);

		heap_deform_tuple(tuptable->vals[row], tuptable->tupdesc,
						  values, nulls);
		for (int c = 0; c < lengthof(list_columns); c++)
			if (nulls[c])
				ss_report_null_column("sessions", list_columns[c]);
		if (l->with_state)
		{
			/*
			 * get_session's merge (ss_merged_state), on the same three
			 * inputs: the session's state (never NULL in a row the
			 * extension wrote), its user's and its app's, either of which
			 * may be missing.
			 */
			if (nulls[6])
				ss_report_null_column("sessions", "state");
			values[7] = JsonbPGetDatum(ss_merged_state(DatumGetJsonbP(values[6]),
													   nulls[7] ? NULL : DatumGetJsonbP(values[7]),
													   l->app_state));
			nulls[7] = false;
		}
		values[6] = PointerGetDatum(EncodeToken(l->format,
												DatumGetTimestampTz(values[5]),
												DatumGetTextPP(values[0]),
												DatumGetTextPP(values[1]),
												l->app_name, l->user_filter));
		nulls[6] = false;
		tuplestore_putvalues(l->rsinfo->setResult, l->rsinfo->setDesc,
							 values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(l->rowcxt);
	}
	return (int) nrows;
}

/*
 * The three queries of a listing: its first page; the rows tying with a
 * token's update_time that come after it; the rows past that update_time.
 * Indexed by [with_state][ascending][user filter].
 */
static const SsQuery list_queries[2][2][2][3] = {
	{
		{
			{Q_LIST_APP_FIRST, Q_LIST_APP_TIES, Q_LIST_APP_OLDER},
			{Q_LIST_USER_FIRST, Q_LIST_USER_TIES, Q_LIST_USER_OLDER},
		},
		{
			{Q_LIST_APP_FIRST_ASC, Q_LIST_APP_TIES_ASC, Q_LIST_APP_NEWER},
			{Q_LIST_USER_FIRST_ASC, Q_LIST_USER_TIES_ASC, Q_LIST_USER_NEWER},
		},
	},
	{
		{
			{Q_LIST_STATE_APP_FIRST, Q_LIST_STATE_APP_TIES, Q_LIST_STATE_APP_OLDER},
			{Q_LIST_STATE_USER_FIRST, Q_LIST_STATE_USER_TIES, Q_LIST_STATE_USER_OLDER},
		},
		{
			{Q_LIST_STATE_APP_FIRST_ASC, Q_LIST_STATE_APP_TIES_ASC, Q_LIST_STATE_APP_NEWER},
			{Q_LIST_STATE_USER_FIRST_ASC, Q_LIST_STATE_USER_TIES_ASC, Q_LIST_STATE_USER_NEWER},
		},
	},
};

/*
 * A page of the listing (app_name, user_id) in the order of ascending,
 * with_state or not: list_sessions and list_sessions_with_state take the
 * same arguments, list the same rows in the same order with the same page
 * tokens (a token of either continues the listing in the other).
 *
 * Every query of a page runs read-only, on the statement's snapshot: the
 * two parts of a page and, with_state, the app's state are one view.
 */
static Datum
ListSessions(FunctionCallInfo fcinfo, bool with_state)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	Listing		l = {0};
	int32		page_size;
	bool		ascending;
	const SsQuery *queries;
	PagePosition pos = {0};
	Datum		args[5];
	int			a = 0;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	l.rsinfo = rsinfo;
	l.with_state = with_state;
	l.app_name = ss_arg_id(fcinfo, 0, "app_name");
	l.user_filter = ss_arg_id_or_null(fcinfo, 1, "user_id");
	ss_require_arg(fcinfo, 2, "page_size");
	page_size = PG_GETARG_INT32(2);
	if (page_size < 1 || page_size > SS_MAX_PAGE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"page_size\" must be between 1 and %d",
						SS_MAX_PAGE_SIZE)));
	ascending = ss_arg_bool(fcinfo, 4, "ascending", false);
	l.format = ascending ? TOKEN_FORMAT_ASC : TOKEN_FORMAT_DESC;
	queries = list_queries[with_state ? 1 : 0][ascending ? 1 : 0]
		[l.user_filter != NULL ? 1 : 0];
	if (!PG_ARGISNULL(3))
		DecodeToken(PG_GETARG_TEXT_PP(3), l.format, l.app_name,
					l.user_filter, &pos);
	l.rowcxt = AllocSetContextCreate(call.callcxt, "session_store listed row",
									 ALLOCSET_DEFAULT_SIZES);

	ss_spi_begin(&call);
	args[a++] = PointerGetDatum(l.app_name);
	if (l.user_filter != NULL)
		args[a++] = PointerGetDatum(l.user_filter);
	if (PG_ARGISNULL(3))
	{
		/* first page */
		args[a] = Int32GetDatum(page_size);
		ss_exec(queries[0], args, NULL, true);
		EmitRows(&call, &l);
	}
	else
	{
		/*
		 * The ties: app (update_time, user_id, session_id) or user
		 * (update_time, session_id) after the token's.  Then the rest, past
		 * the token's update_time: the limit takes the place of the ids.
		 */
		args[a] = TimestampTzGetDatum(pos.update_time);
		if (l.user_filter == NULL)
			args[a + 1] = PointerGetDatum(pos.user_id);
		args[l.user_filter == NULL ? a + 2 : a + 1] = PointerGetDatum(pos.session_id);
		args[4] = Int32GetDatum(page_size);
		ss_exec(queries[1], args, NULL, true);
		n = EmitRows(&call, &l);
		if (n < page_size)
		{
			args[a + 1] = Int32GetDatum(page_size - n);
			ss_exec(queries[2], args, NULL, true);
			EmitRows(&call, &l);
		}
	}
	ss_spi_end(&call);
	ss_call_end(&call);
	return (Datum) 0;
}

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_list_sessions);
PG_FUNCTION_INFO_V1(session_store_list_sessions_with_state);
PG_FUNCTION_INFO_V1(session_store_count_sessions);

/*
 * list_sessions(app_name, user_id, page_size, page_token [, ascending])
 *	→ SETOF session_summary, most recently updated first, or least
 *	recently first with ascending (an argument of the 1.1 declaration only)
 */
Datum
session_store_list_sessions(PG_FUNCTION_ARGS)
{
	return ListSessions(fcinfo, false);
}

/*
 * list_sessions_with_state(app_name, user_id, page_size, page_token,
 *							ascending) (1.2)
 *	→ SETOF session_summary_with_state: list_sessions' rows, each with the
 *	session's merged state as get_session returns it
 */
Datum
session_store_list_sessions_with_state(PG_FUNCTION_ARGS)
{
	return ListSessions(fcinfo, true);
}

/* count_sessions(app_name, user_id) → bigint: the app's or the user's sessions */
Datum
session_store_count_sessions(PG_FUNCTION_ARGS)
{
	SsCall		call;
	Datum		args[2];
	text	   *user_id;
	bool		isnull;
	int64		n;

	ss_call_begin(&call);
	args[0] = PointerGetDatum(ss_arg_id(fcinfo, 0, "app_name"));
	user_id = ss_arg_id_or_null(fcinfo, 1, "user_id");
	args[1] = PointerGetDatum(user_id);

	ss_spi_begin(&call);
	if (ss_exec(user_id == NULL ? Q_COUNT_APP : Q_COUNT_USER, args, NULL, true) != 1)
		elog(ERROR, "count_sessions: no result row");
	n = ss_result_int64(0, 1, &isnull);
	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_INT64(n);
}
