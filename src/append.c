/*-------------------------------------------------------------------------
 *
 * append.c
 *	  append_messages and replace_messages: messages, a state delta, an
 *	  optimistic version check and an idempotency key, as one atomic call.
 *
 * Order of work, and why:
 *
 *	1. Validate every argument, route the delta and, when there is an
 *	   idempotency key, compute the request's digest; nothing is locked yet.
 *	2. Take the session lock and read the session head (head.c).  Under
 *	   READ COMMITTED the read runs on a snapshot taken after the lock was
 *	   granted, so it sees whatever the previous holder committed, and no
 *	   one can change the head until we commit: last_seq + 1 .. last_seq + n
 *	   are ours.
 *	3. A known idempotency key returns the stored result, writing nothing.
 *	   It is looked up on the snapshot the head was read on, taken after
 *	   the lock (direct.c; distributed, an SPI statement, which under READ
 *	   COMMITTED takes a new snapshot): a retry that waited on the lock
 *	   finds the key the holder committed (and, with verify_replay,
 *	   compares its digest).
 *	4. expected_version is compared with the head's version (40001).
 *	5. The head is advanced BEFORE any message is removed or inserted.
 *	   Under REPEATABLE READ or SERIALIZABLE our snapshot may predate the
 *	   last holder's commit; the UPDATE then fails with 40001 ("could not
 *	   serialize access due to concurrent update") before a stale last_seq
 *	   could ever produce a duplicate sequence number (23505), and before
 *	   replace_messages could compare a stale suffix.
 *	6. replace_messages compares and deletes the latest messages; then
 *	   messages, then the user's and the app's state (lock order), then the
 *	   idempotency key are written.
 *
 * Every mutation of a session's messages holds the session lock, so the
 * latest messages replace_messages compares are the ones it deletes, and
 * an append waiting on the lock continues after the replacement.
 *
 * The head, the new messages and the idempotency key go through direct.c;
 * SPI is connected only for a delta that names app: or user: keys, or the
 * suffix replace_messages compares and removes.  Distributed, all of it is
 * SQL routed to the session's shard, under the head's row lock (head.c).
 *
 * Request digests: sha256 over a length-prefixed serialization of the
 * function name and the arguments that define the request's content (jsonb
 * text output is the same for equal jsonb documents, up to the text of
 * numbers).  The function name keeps a key used by one function from
 * matching a request of the other.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

/* Columns of append_messages' result; replace_messages adds "removed". */
enum
{
	AR_FIRST_SEQ,
	AR_LAST_SEQ,
	AR_VERSION,
	AR_UPDATE_TIME,
	AR_REPLAYED,
	AR_REMOVED,
	AR_NATTS
};

/* append_messages' arguments in 1.0; 1.1 adds three after them. */
#define APPEND_NARGS_1_0 7

#define DIGEST_LEN PG_SHA256_DIGEST_LENGTH

/* A call's result, as returned and as stored with its idempotency key. */
typedef struct CallResult
{
	Datum		values[AR_NATTS];
	bool		nulls[AR_NATTS];
	bytea	   *digest;			/* of a stored key; NULL if stored by 1.0 */
} CallResult;

/* Fail on an error of the sha256 implementation. */
static inline void
CheckHash(pg_cryptohash_ctx *ctx, int rc)
{
	if (rc < 0)
		elog(ERROR, "could not compute a sha256 digest: %s",
			 pg_cryptohash_error(ctx));
}

/* Feed one field: its length (big-endian; 0xffffffff for NULL), its bytes. */
static void
DigestField(pg_cryptohash_ctx *ctx, const void *data, int64 len)
{
	uint32		l = data == NULL ? PG_UINT32_MAX : (uint32) len;
	uint8		hdr[4] = {l >> 24, l >> 16, l >> 8, l};

	CheckHash(ctx, pg_cryptohash_update(ctx, hdr, sizeof(hdr)));
	if (data != NULL && len > 0)
		CheckHash(ctx, pg_cryptohash_update(ctx, data, len));
}

/* Feed a jsonb argument (NULL allowed) as its text output. */
static void
DigestJsonb(pg_cryptohash_ctx *ctx, Jsonb *jb)
{
	StringInfoData s;

	if (jb == NULL)
	{
		DigestField(ctx, NULL, 0);
		return;
	}
	initStringInfo(&s);
	JsonbToCString(&s, &jb->root, VARSIZE(jb));
	DigestField(ctx, s.data, s.len);
	pfree(s.data);
}

/*
 * The digest of a request: fn, then the jsonb arguments (each may be
 * NULL), keep_nulls, and message_time (NULL when has_time is false).
 */
static void
RequestDigest(const char *fn, Jsonb **docs, int ndocs, bool keep_nulls,
			  bool has_time, TimestampTz message_time, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		flag = keep_nulls ? 1 : 0;
	uint8		t[8];

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	CheckHash(ctx, pg_cryptohash_init(ctx));
	DigestField(ctx, fn, strlen(fn));
	for (int i = 0; i < ndocs; i++)
		DigestJsonb(ctx, docs[i]);
	DigestField(ctx, &flag, 1);
	for (int i = 0; i < 8; i++)
		t[i] = (uint8) ((uint64) message_time >> (56 - 8 * i));
	DigestField(ctx, has_time ? t : NULL, 8);
	CheckHash(ctx, pg_cryptohash_final(ctx, out, DIGEST_LEN));
	pg_cryptohash_free(ctx);
}

/*
 * Before the session lock: open idempotency_keys for the key's lookup and
 * insert (direct path only).
 */
static void
PrepareKey(SsCall *call, text *idem_key)
{
	if (idem_key != NULL && !ss_in_citus_mode)
		(void) ss_table(call, SS_IDEM_KEYS, true);
}

/*
 * LookupKey on a single node: the key's row by the primary key, under the
 * session lock, on the snapshot of the head's read.
 */
static bool
LookupKeyDirect(SsCall *call, const SessionKey *key, int64 sid,
				text *idem_key, bool with_digest, CallResult *stored)
{
	SsTable    *t = ss_table(call, SS_IDEM_KEYS, true);
	SsKeyRow	row;
	Snapshot	snap;
	bool		found;
	MemoryContext old;

	old = MemoryContextSwitchTo(call->callcxt);
	snap = ss_locked_snapshot();
	found = ss_fetch_key(t, key->user_id, sid, idem_key, with_digest, snap,
						 &row);
	ss_release_locked_snapshot(snap);
	/*
	 * Under REPEATABLE READ or SERIALIZABLE a key stored after the snapshot
	 * by a call that left the head alone (a pop, rewind or clear that
	 * removed nothing) is 40001 here, not 23505 when it is stored again.
	 */
	if (!found && IsolationUsesXactSnapshot() &&
		ss_fetch_key(t, key->user_id, sid, idem_key, false, SnapshotSelf, &row))
		ss_report_key_committed_since(key, idem_key);
	MemoryContextSwitchTo(old);
	if (!found)
		return false;
	/* 1.2: a key of another kind of call is never replayed as an append */
	if (with_digest && !row.nulls[KC_OPERATION])
		ss_report_key_kind(key, idem_key,
						   ss_key_kind(DatumGetTextPP(row.values[KC_OPERATION])),
						   KEY_APPEND);
	for (int i = 0; i < 4; i++)
	{
		stored->values[i] = row.values[KC_FIRST_SEQ + i];
		stored->nulls[i] = row.nulls[KC_FIRST_SEQ + i];
	}
	stored->values[AR_REPLAYED] = BoolGetDatum(true);
	stored->nulls[AR_REPLAYED] = false;
	stored->values[AR_REMOVED] = row.values[KC_REMOVED];
	stored->nulls[AR_REMOVED] = row.nulls[KC_REMOVED];
	stored->digest = row.nulls[KC_REQUEST_DIGEST] ? NULL :
		DatumGetByteaPP(row.values[KC_REQUEST_DIGEST]);
	return true;
}

/*
 * Look up idempotency key idem_key of session (user_id, sid); true and the
 * stored result in *stored if it was used.  with_digest: the database has
 * 1.1's columns (the function was called through its 1.1 declaration).  A
 * key stored by another kind of call (1.2: create, fork, pop, rewind,
 * clear) is 42710.  The caller holds the session lock.
 */
static bool
LookupKey(SsCall *call, const SessionKey *key, int64 sid, text *idem_key,
		  bool with_digest, CallResult *stored)
{
	Datum		args[3];
	bool		isnull;
	bool		with_kind;

	if (!ss_in_citus_mode)
		return LookupKeyDirect(call, key, sid, idem_key, with_digest, stored);
	ss_spi_begin(call);
	with_kind = with_digest && ss_keys_have_kinds();

	args[0] = PointerGetDatum(key->user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = PointerGetDatum(idem_key);
	if (ss_exec(with_kind ? Q_IDEM_LOOKUP_DIGEST_OP :
				with_digest ? Q_IDEM_LOOKUP_DIGEST : Q_IDEM_LOOKUP,
				args, NULL, false) == 0)
		return false;
	if (with_kind)
	{
		/* 1.2: a key of another kind of call is never replayed as an append */
		Datum		op;

		op = ss_result_datum(call, 0, 7, &isnull);
		if (!isnull)
			ss_report_key_kind(key, idem_key,
							   ss_key_kind(DatumGetTextPP(op)), KEY_APPEND);
	}

	for (int i = 0; i < 4; i++)
		stored->values[i] = ss_result_datum(call, 0, i + 1, &stored->nulls[i]);
	stored->values[AR_REPLAYED] = BoolGetDatum(true);
	stored->nulls[AR_REPLAYED] = false;
	stored->values[AR_REMOVED] = (Datum) 0;
	stored->nulls[AR_REMOVED] = true;
	stored->digest = NULL;
	if (with_digest)
	{
		Datum		d = ss_result_datum(call, 0, 5, &isnull);

		if (!isnull)
			stored->digest = DatumGetByteaPP(d);
		stored->values[AR_REMOVED] = ss_result_datum(call, 0, 6,
													 &stored->nulls[AR_REMOVED]);
	}
	return true;
}

/*
 * 42710 unless the stored key's digest is digest.  A key stored by 1.0 has
 * none and replays whatever the content, as in 1.0.
 */
static void
CheckReplayDigest(const SessionKey *key, text *idem_key,
				  const CallResult *stored, const uint8 *digest)
{
	if (stored->digest == NULL)
		return;
	if (VARSIZE_ANY_EXHDR(stored->digest) == DIGEST_LEN &&
		memcmp(VARDATA_ANY(stored->digest), digest, DIGEST_LEN) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("idempotency key \"%s\" was already used with different content",
					text_to_cstring(idem_key)),
			 errdetail("Session \"%s\" of app \"%s\", user \"%s\".",
					   text_to_cstring(key->session_id),
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id)),
			 errhint("Use a new idempotency key for a different request.")));
}

/* A digest as the bytea request_digest stores. */
static bytea *
DigestBytea(const uint8 *digest)
{
	bytea	   *d = palloc(VARHDRSZ + DIGEST_LEN);

	SET_VARSIZE(d, VARHDRSZ + DIGEST_LEN);
	memcpy(VARDATA(d), digest, DIGEST_LEN);
	return d;
}

/*
 * Record idem_key with the call's result; with a digest (1.1 columns) also
 * the digest and the removed count.  The caller holds the session lock.
 */
static void
StoreKey(SsCall *call, const SessionKey *key, int64 sid, text *idem_key,
		 const CallResult *res, const uint8 *digest)
{
	Datum		args[9];
	char		argnulls[9];

	if (!ss_in_citus_mode)
	{
		SsKeyRow	row = {{0}};

		for (int i = 0; i < 4; i++)
		{
			row.values[KC_FIRST_SEQ + i] = res->values[i];
			row.nulls[KC_FIRST_SEQ + i] = res->nulls[i];
		}
		row.nulls[KC_REQUEST_DIGEST] = row.nulls[KC_REMOVED] = true;
		row.nulls[KC_OPERATION] = true;
		if (digest != NULL)
		{
			row.values[KC_REQUEST_DIGEST] = PointerGetDatum(DigestBytea(digest));
			row.nulls[KC_REQUEST_DIGEST] = false;
			row.values[KC_REMOVED] = res->values[AR_REMOVED];
			row.nulls[KC_REMOVED] = res->nulls[AR_REMOVED];
		}
		ss_insert_key(ss_table(call, SS_IDEM_KEYS, true), key->user_id, sid,
					  idem_key, digest != NULL, &row);
		return;
	}
	ss_spi_begin(call);

	memset(argnulls, ' ', sizeof(argnulls));
	args[0] = PointerGetDatum(key->user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = PointerGetDatum(idem_key);
	for (int i = 0; i < 4; i++)
	{
		args[3 + i] = res->values[i];
		argnulls[3 + i] = res->nulls[i] ? 'n' : ' ';
	}
	if (digest == NULL)
	{
		ss_exec(Q_IDEM_INSERT, args, argnulls, false);
		return;
	}
	args[7] = PointerGetDatum(DigestBytea(digest));
	args[8] = res->values[AR_REMOVED];
	argnulls[8] = res->nulls[AR_REMOVED] ? 'n' : ' ';
	ss_exec(Q_IDEM_INSERT_DIGEST, args, argnulls, false);
}

/* Fill the seq range of n messages appended after last_seq (NULLs if none). */
static void
SetRange(CallResult *res, int64 last_seq, int n)
{
	if (n > 0)
	{
		res->values[AR_FIRST_SEQ] = Int64GetDatum(last_seq + 1);
		res->values[AR_LAST_SEQ] = Int64GetDatum(last_seq + n);
		res->nulls[AR_FIRST_SEQ] = res->nulls[AR_LAST_SEQ] = false;
	}
	else
		res->nulls[AR_FIRST_SEQ] = res->nulls[AR_LAST_SEQ] = true;
}

/*
 * Under the session lock, with the head already advanced: check that the
 * latest n messages of the session equal the elements of expected (a JSON
 * array of n), in seq order, by jsonb equality; 40001 if they do not (or
 * there are fewer than n).  Returns the seq of the oldest of them.  SPI
 * must be connected; under READ COMMITTED the statement's snapshot is
 * taken now, after the lock.
 */
static int64
CheckSuffix(const SessionKey *key, int64 sid, Jsonb *expected, int n)
{
	Datum		args[3];
	bool		match;
	bool		isnull;

	args[0] = PointerGetDatum(key->user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = Int64GetDatum((int64) n);
	match = ss_exec(Q_MESSAGES_TAIL, args, NULL, false) == n;

	/* rows come newest first; expected is oldest first */
	for (int i = 0; match && i < n; i++)
	{
		JsonbValue *want = getIthJsonbValueFromContainer(&expected->root,
														 n - 1 - i);
		Datum		stored = SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 2, &isnull);
		Jsonb	   *have;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("session_store.messages holds a NULL column")));
		have = DatumGetJsonbP(stored);
		match = want != NULL && want->type == jbvBinary &&
			compareJsonbContainers(want->val.binary.data, &have->root) == 0;
	}
	if (!match)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("session \"%s\" no longer ends with the expected messages",
						text_to_cstring(key->session_id)),
				 errdetail("App \"%s\", user \"%s\".",
						   text_to_cstring(key->app_name),
						   text_to_cstring(key->user_id)),
				 errhint("Read the session's latest messages again and retry with them.")));
	return n > 0 ? ss_result_int64(n - 1, 1, &isnull) : 0;
}

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_append_messages);
PG_FUNCTION_INFO_V1(session_store_replace_messages);

/*
 * append_messages(app_name, user_id, session_id, messages, state_delta,
 *				   expected_version, idempotency_key
 *				   [1.1: , keep_nulls, message_time, verify_replay])
 *	→ TABLE(first_seq, last_seq, version, update_time, replayed)
 */
Datum
session_store_append_messages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		v11 = PG_NARGS() > APPEND_NARGS_1_0;
	SsCall		call;
	SessionKey	key;
	Jsonb	   *messages;
	Jsonb	   *delta_arg;
	int			nmessages;
	StateDelta	delta;
	text	   *idem_key;
	bool		keep_nulls;
	bool		has_time;
	TimestampTz message_time = 0;
	bool		verify_replay;
	uint8		digest[DIGEST_LEN] = {0};
	Datum	   *prepared;
	SessionHead head;
	int64		last_seq;
	CallResult	res = {0};

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	messages = ss_arg_messages(fcinfo, 3, &nmessages);
	delta_arg = ss_arg_object_or_null(fcinfo, 4, "state_delta");
	idem_key = ss_arg_id_or_null(fcinfo, 6, "idempotency_key");
	keep_nulls = ss_arg_bool(fcinfo, 7, "keep_nulls", false);
	has_time = v11 && !PG_ARGISNULL(8);
	if (has_time)
	{
		message_time = PG_GETARG_TIMESTAMPTZ(8);
		if (TIMESTAMP_NOT_FINITE(message_time))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"message_time\" must be a finite timestamp")));
	}
	verify_replay = ss_arg_bool(fcinfo, 9, "verify_replay", false);
	ss_route_delta(delta_arg, keep_nulls, &delta);

	/* everything that does not need the session lock comes first */
	if (idem_key != NULL && v11)
	{
		Jsonb	   *docs[2] = {messages, delta_arg};

		RequestDigest("append_messages", docs, 2, keep_nulls, has_time,
					  message_time, digest);
	}
	prepared = ss_prepare_messages(messages, nmessages);
	if (nmessages > 0)
		ss_prepare_append(&call);
	PrepareKey(&call, idem_key);

	ss_lock_head(&call, &key, &head);
	last_seq = head.last_seq;

	if (idem_key != NULL &&
		LookupKey(&call, &key, head.sid, idem_key, v11, &res))
	{
		if (verify_replay)
			CheckReplayDigest(&key, idem_key, &res, digest);
		goto done;
	}

	ss_check_version(fcinfo, 5, &key, &head);
	ss_advance_head(&call, &head, ss_seq_after(&key, last_seq, nmessages), &delta);
	if (nmessages > 0)
		ss_append_rows(&call, key.user_id, head.sid, last_seq + 1, prepared,
					   nmessages, has_time ? message_time : head.update_time);
	SetRange(&res, last_seq, nmessages);
	res.values[AR_VERSION] = Int64GetDatum(head.version);
	res.values[AR_UPDATE_TIME] = TimestampTzGetDatum(head.update_time);
	res.values[AR_REPLAYED] = BoolGetDatum(false);
	res.nulls[AR_REMOVED] = true;

	if (delta.touches[SCOPE_USER] || delta.touches[SCOPE_APP])
	{
		ss_spi_begin(&call);
		ss_apply_shared_deltas(&key, &delta);
	}

	if (idem_key != NULL)
		StoreKey(&call, &key, head.sid, idem_key, &res, v11 ? digest : NULL);

done:
	if (call.connected)
		ss_spi_end(&call);
	/* the first AR_REMOVED columns: append_messages has no "removed" */
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, res.values, res.nulls);
	ss_call_end(&call);
	return (Datum) 0;
}

/*
 * replace_messages(app_name, user_id, session_id, expected_suffix,
 *					replacement, state_delta, expected_version,
 *					idempotency_key, keep_nulls)
 *	→ TABLE(first_seq, last_seq, version, update_time, replayed, removed)
 *
 * If the latest jsonb_array_length(expected_suffix) messages equal
 * expected_suffix, they are deleted and replacement is appended after
 * last_seq (numbers are never reused); otherwise 40001 and nothing is
 * written.  An empty expected_suffix always matches: the call is then an
 * append.  A replayed key is always verified against the request (42710).
 */
Datum
session_store_replace_messages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	Jsonb	   *expected;
	int			nexpected;
	Jsonb	   *replacement;
	int			nreplacement;
	Jsonb	   *delta_arg;
	StateDelta	delta;
	text	   *idem_key;
	bool		keep_nulls;
	uint8		digest[DIGEST_LEN] = {0};
	Datum	   *prepared;
	SessionHead head;
	int64		last_seq;
	int64		removed = 0;
	CallResult	res = {0};

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	ss_require_arg(fcinfo, 3, "expected_suffix");
	expected = PG_GETARG_JSONB_P(3);
	if (!JB_ROOT_IS_ARRAY(expected) || JB_ROOT_IS_SCALAR(expected))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"expected_suffix\" must be a JSON array")));
	nexpected = JB_ROOT_COUNT(expected);
	replacement = ss_arg_message_array(fcinfo, 4, "replacement", &nreplacement);
	delta_arg = ss_arg_object_or_null(fcinfo, 5, "state_delta");
	idem_key = ss_arg_id_or_null(fcinfo, 7, "idempotency_key");
	keep_nulls = ss_arg_bool(fcinfo, 8, "keep_nulls", false);
	ss_route_delta(delta_arg, keep_nulls, &delta);

	if (idem_key != NULL)
	{
		Jsonb	   *docs[3] = {expected, replacement, delta_arg};

		RequestDigest("replace_messages", docs, 3, keep_nulls, false, 0,
					  digest);
	}
	prepared = ss_prepare_messages(replacement, nreplacement);
	ss_prepare_append(&call);
	PrepareKey(&call, idem_key);

	ss_lock_head(&call, &key, &head);
	last_seq = head.last_seq;

	if (idem_key != NULL &&
		LookupKey(&call, &key, head.sid, idem_key, true, &res))
	{
		CheckReplayDigest(&key, idem_key, &res, digest);
		goto done;
	}

	ss_check_version(fcinfo, 6, &key, &head);
	ss_advance_head(&call, &head, ss_seq_after(&key, last_seq, nreplacement), &delta);
	if (nexpected > 0)
	{
		int64		oldest;
		Datum		args[3];

		ss_spi_begin(&call);
		oldest = CheckSuffix(&key, head.sid, expected, nexpected);
		args[0] = PointerGetDatum(key.user_id);
		args[1] = Int64GetDatum(head.sid);
		args[2] = Int64GetDatum(oldest - 1);
		removed = ss_exec(Q_MESSAGE_DELETE_AFTER, args, NULL, false);
		if (removed != nexpected)
			elog(ERROR, "removed " INT64_FORMAT " messages, expected %d",
				 removed, nexpected);
	}
	if (nreplacement > 0)
		ss_append_rows(&call, key.user_id, head.sid, last_seq + 1, prepared,
					   nreplacement, head.update_time);
	SetRange(&res, last_seq, nreplacement);
	res.values[AR_VERSION] = Int64GetDatum(head.version);
	res.values[AR_UPDATE_TIME] = TimestampTzGetDatum(head.update_time);
	res.values[AR_REPLAYED] = BoolGetDatum(false);
	res.values[AR_REMOVED] = Int64GetDatum(removed);
	res.nulls[AR_REMOVED] = false;

	if (delta.touches[SCOPE_USER] || delta.touches[SCOPE_APP])
	{
		ss_spi_begin(&call);
		ss_apply_shared_deltas(&key, &delta);
	}
	if (idem_key != NULL)
		StoreKey(&call, &key, head.sid, idem_key, &res, digest);

done:
	if (call.connected)
		ss_spi_end(&call);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, res.values, res.nulls);
	ss_call_end(&call);
	return (Datum) 0;
}
