/*-------------------------------------------------------------------------
 *
 * session.c
 *	  Sessions as a whole: create, get, delete, fork; app and user state.
 *
 * create_session and delete_session take the session lock (lock.c) before
 * they look at the session, so one explicit id created concurrently has
 * exactly one winner and every other caller gets 23505.  Readers take no
 * lock: one SPI query, on the caller's snapshot, returns the session with
 * its user and app state, so the merged view is consistent.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "utils/builtins.h"

/* The columns of session_store.session, in order. */
enum
{
	SC_APP_NAME,
	SC_USER_ID,
	SC_SESSION_ID,
	SC_STATE,
	SC_VERSION,
	SC_LAST_SEQ,
	SC_CREATE_TIME,
	SC_UPDATE_TIME
};

/* A fresh random (version 4) UUID, in its text form. */
static text *
NewSessionId(void)
{
	unsigned char b[16];
	char		buf[37];
	char	   *p = buf;

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random session id")));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", b[i]);
	}
	return cstring_to_text(buf);
}

/*
 * Read one session as a session_store.session row into values/nulls
 * (SS_SESSION_NATTS each), all of it in the call's memory, so it outlives
 * the SPI connection.  SPI must be connected.  Returns false when the
 * session does not exist.
 */
bool
ss_read_session(SsCall *call, const SessionKey *key, bool read_only,
				Datum *values, bool *nulls)
{
	Datum		args[3];
	bool		isnull;
	Jsonb	   *scope_state[3];
	MemoryContext old;

	ss_session_key_values(key, args);
	if (ss_exec(Q_SESSION_READ, args, NULL, read_only) == 0)
		return false;

	for (int i = 0; i < 3; i++)
	{
		Datum		d = ss_result_datum(call, 0, i == 0 ? 1 : i + 5, &isnull);

		scope_state[i] = isnull ? NULL : DatumGetJsonbP(d);
	}

	memset(nulls, 0, sizeof(bool) * SS_SESSION_NATTS);
	values[SC_APP_NAME] = PointerGetDatum(key->app_name);
	values[SC_USER_ID] = PointerGetDatum(key->user_id);
	values[SC_SESSION_ID] = PointerGetDatum(key->session_id);
	/* in call memory: SPI's memory is gone once the caller disconnects */
	old = MemoryContextSwitchTo(call->callcxt);
	values[SC_STATE] = JsonbPGetDatum(ss_merged_state(scope_state[0],
													  scope_state[1],
													  scope_state[2]));
	MemoryContextSwitchTo(old);
	values[SC_VERSION] = ss_result_datum(call, 0, 2, &isnull);
	values[SC_LAST_SEQ] = ss_result_datum(call, 0, 3, &isnull);
	values[SC_CREATE_TIME] = ss_result_datum(call, 0, 4, &isnull);
	values[SC_UPDATE_TIME] = ss_result_datum(call, 0, 5, &isnull);
	return true;
}

/* A session_store.session composite Datum, built in the caller's memory. */
Datum
ss_session_result(FunctionCallInfo fcinfo, SsCall *call,
				  Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	MemoryContext old = MemoryContextSwitchTo(call->oldcxt);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tuple);
}

/*
 * 23505 if the session exists.  The caller holds its lock; the check runs on
 * a snapshot taken now, so a session committed by a concurrent creator is
 * found at every isolation level.  40001 if only the transaction's
 * snapshot still sees it (deleted concurrently).
 */
static void
CheckSessionIsNew(const SessionKey *key)
{
	Datum		args[3];

	ss_session_key_values(key, args);
	if (ss_exec_latest(Q_SESSION_EXISTS, args, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("session \"%s\" already exists",
						text_to_cstring(key->session_id)),
				 errdetail("App \"%s\", user \"%s\".",
						   text_to_cstring(key->app_name),
						   text_to_cstring(key->user_id))));

	/*
	 * Under REPEATABLE READ or SERIALIZABLE the transaction's snapshot may
	 * still see a session of that name that was deleted since: creating it
	 * cannot be serialized with that view (and reading the new session back
	 * would meet both rows).
	 */
	if (IsolationUsesXactSnapshot() && ss_exec(Q_SESSION_EXISTS, args, NULL, true) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent delete"),
				 errdetail("Session \"%s\" of app \"%s\", user \"%s\" was deleted after this transaction's snapshot was taken.",
						   text_to_cstring(key->session_id),
						   text_to_cstring(key->app_name),
						   text_to_cstring(key->user_id)),
				 errhint("Retry the transaction.")));
}

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_create_session);
PG_FUNCTION_INFO_V1(session_store_get_session);
PG_FUNCTION_INFO_V1(session_store_delete_session);
PG_FUNCTION_INFO_V1(session_store_fork_session);
PG_FUNCTION_INFO_V1(session_store_get_app_state);
PG_FUNCTION_INFO_V1(session_store_get_user_state);

/*
 * create_session(app_name, user_id, state, session_id [1.1: , keep_nulls])
 *	→ session
 *
 * Under the session lock, an existing id is looked for on a snapshot taken
 * after the lock was granted, so a session committed by a concurrent
 * creator is found at every isolation level and reported as 23505.  App
 * and user state rows are created by INSERT ... ON CONFLICT, so parallel
 * first sessions of a new app or user never collide on them.
 */
Datum
session_store_create_session(PG_FUNCTION_ARGS)
{
	SsCall		call;
	SessionKey	key;
	Jsonb	   *state;
	StateDelta	delta;
	Datum		args[5];
	Datum		values[SS_SESSION_NATTS];
	bool		nulls[SS_SESSION_NATTS];
	Datum		result;

	ss_call_begin(&call);
	key.app_name = ss_arg_id(fcinfo, 0, "app_name");
	key.user_id = ss_arg_id(fcinfo, 1, "user_id");
	state = ss_arg_object_or_null(fcinfo, 2, "state");
	key.session_id = ss_arg_id_or_null(fcinfo, 3, "session_id");
	if (key.session_id == NULL)
		key.session_id = NewSessionId();
	ss_route_delta(state, ss_arg_bool(fcinfo, 4, "keep_nulls", false), &delta);

	ss_spi_begin(&call);
	ss_lock_session(&key);
	CheckSessionIsNew(&key);

	ss_session_key_values(&key, args);
	args[3] = JsonbPGetDatum(delta.touches[SCOPE_SESSION] ?
							 delta.set[SCOPE_SESSION] : ss_empty_object());
	args[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	ss_exec(Q_SESSION_INSERT, args, NULL, false);
	ss_apply_shared_deltas(&key, &delta);

	if (!ss_read_session(&call, &key, false, values, nulls))
		elog(ERROR, "session created but not found");
	ss_spi_end(&call);

	result = ss_session_result(fcinfo, &call, values, nulls);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}

/* get_session(app_name, user_id, session_id) → SETOF session: one row or none */
Datum
session_store_get_session(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	Datum		values[SS_SESSION_NATTS];
	bool		nulls[SS_SESSION_NATTS];
	bool		found;

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);

	ss_spi_begin(&call);
	found = ss_read_session(&call, &key, true, values, nulls);
	ss_spi_end(&call);

	if (found)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	ss_call_end(&call);
	return (Datum) 0;
}

/* delete_session(app_name, user_id, session_id) → true if it existed */
Datum
session_store_delete_session(PG_FUNCTION_ARGS)
{
	SsCall		call;
	SessionKey	key;
	Datum		args[3];
	bool		found;

	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);

	ss_spi_begin(&call);
	ss_lock_session(&key);
	ss_session_key_values(&key, args);
	found = ss_exec(Q_SESSION_DELETE, args, NULL, false) > 0;
	if (found)
	{
		bool		isnull;

		ss_delete_session_contents(key.user_id, ss_result_int64(0, 1, &isnull));
	}
	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_BOOL(found);
}

/*
 * fork_session(app_name, user_id, session_id, new_session_id, up_to_seq)
 *	→ session
 *
 * A new session of the same app and user with the source's session state
 * and its messages up to up_to_seq (all when NULL), keeping their seq and
 * create_time.  The fork's last_seq is min(up_to_seq, source's last_seq),
 * so its next append continues right after the copied part, as it would
 * have in the source.  Both sessions are locked (in tag order): the copy is
 * consistent, and a concurrent append to the source lands entirely before
 * or entirely after it.
 */
Datum
session_store_fork_session(PG_FUNCTION_ARGS)
{
	SsCall		call;
	SessionKey	src;
	SessionKey	dst;
	SessionHead head;
	int64		up_to_seq;
	int64		last_seq;
	int64		new_sid;
	bool		isnull;
	Datum		args[6];
	Datum		values[SS_SESSION_NATTS];
	bool		nulls[SS_SESSION_NATTS];
	Datum		result;

	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &src);
	dst.app_name = src.app_name;
	dst.user_id = src.user_id;
	dst.session_id = ss_arg_id_or_null(fcinfo, 3, "new_session_id");
	if (dst.session_id == NULL)
		dst.session_id = NewSessionId();
	up_to_seq = PG_ARGISNULL(4) ? PG_INT64_MAX : PG_GETARG_INT64(4);

	ss_spi_begin(&call);
	ss_lock_two_sessions(&src, &dst);
	if (!ss_read_head(&call, &src, true, &head))
		ss_report_session_missing(&src);
	CheckSessionIsNew(&dst);

	last_seq = Max(0, Min(up_to_seq, head.last_seq));
	ss_session_key_values(&src, args);
	args[3] = PointerGetDatum(dst.session_id);
	args[4] = Int64GetDatum(last_seq);
	args[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	if (ss_exec(Q_SESSION_FORK, args, NULL, false) != 1)
		elog(ERROR, "source session vanished under its lock");
	new_sid = ss_result_int64(0, 1, &isnull);

	args[0] = PointerGetDatum(src.user_id);
	args[1] = Int64GetDatum(head.sid);
	args[2] = Int64GetDatum(new_sid);
	args[3] = Int64GetDatum(last_seq);
	ss_exec(Q_MESSAGE_COPY, args, NULL, false);

	if (!ss_read_session(&call, &dst, false, values, nulls))
		elog(ERROR, "session forked but not found");
	ss_spi_end(&call);

	result = ss_session_result(fcinfo, &call, values, nulls);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}

/* Return the state column of the last result, or '{}' when there is none. */
static Datum
StateOrEmpty(SsCall *call, int nrows)
{
	Datum		d = (Datum) 0;
	bool		isnull = true;
	MemoryContext old;

	if (nrows > 0)
		d = ss_result_datum(call, 0, 1, &isnull);
	old = MemoryContextSwitchTo(call->oldcxt);
	if (isnull)
		d = JsonbPGetDatum(ss_empty_object());
	else
		d = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
	MemoryContextSwitchTo(old);
	return d;
}

/* get_app_state(app_name) → jsonb */
Datum
session_store_get_app_state(PG_FUNCTION_ARGS)
{
	SsCall		call;
	Datum		args[1];
	Datum		result;
	int			n;

	ss_call_begin(&call);
	args[0] = PointerGetDatum(ss_arg_id(fcinfo, 0, "app_name"));
	ss_spi_begin(&call);
	n = ss_exec(Q_APP_STATE_GET, args, NULL, true);
	result = StateOrEmpty(&call, n);
	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}

/* get_user_state(app_name, user_id) → jsonb */
Datum
session_store_get_user_state(PG_FUNCTION_ARGS)
{
	SsCall		call;
	Datum		args[2];
	Datum		result;
	int			n;

	ss_call_begin(&call);
	args[0] = PointerGetDatum(ss_arg_id(fcinfo, 0, "app_name"));
	args[1] = PointerGetDatum(ss_arg_id(fcinfo, 1, "user_id"));
	ss_spi_begin(&call);
	n = ss_exec(Q_USER_STATE_GET, args, NULL, true);
	result = StateOrEmpty(&call, n);
	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}
