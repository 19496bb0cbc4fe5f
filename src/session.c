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
 * Distributed (citus.c) there is no advisory lock: creates claim the id by
 * inserting the head (InsertSessionRouted), deletes lock the head row by
 * deleting it, and fork_session locks the source's head row.
 *
 * 1.2: create_session and fork_session take an idempotency key, recorded
 * on the session they create (keys.c).  A call whose session exists and
 * holds its key, recorded by the same kind of call, writes nothing and
 * returns the session as get_session does (ReplayCreate); a session that
 * exists without the key is 23505, as before.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
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
	Datum		d_app = (Datum) 0;
	Jsonb	   *scope_state[3];
	MemoryContext old;

	/*
	 * Distributed, app_states is distributed by app_name, apart from the
	 * session's shard: the session with its user's state is one routed
	 * query, the app's state another.
	 */
	ss_session_key_values(key, args);
	if (ss_exec(ss_in_citus_mode ? Q_CITUS_SESSION_READ : Q_SESSION_READ,
				args, NULL, read_only) == 0)
		return false;
	for (int i = 0; i < 2; i++)
	{
		Datum		d = ss_result_datum(call, 0, i == 0 ? 1 : 6, &isnull);

		scope_state[i] = isnull ? NULL : DatumGetJsonbP(d);
	}
	memset(nulls, 0, sizeof(bool) * SS_SESSION_NATTS);
	values[SC_VERSION] = ss_result_datum(call, 0, 2, &isnull);
	values[SC_LAST_SEQ] = ss_result_datum(call, 0, 3, &isnull);
	values[SC_CREATE_TIME] = ss_result_datum(call, 0, 4, &isnull);
	values[SC_UPDATE_TIME] = ss_result_datum(call, 0, 5, &isnull);
	if (!ss_in_citus_mode)
		d_app = ss_result_datum(call, 0, 7, &isnull);
	else if (ss_exec(Q_APP_STATE_GET, args, NULL, read_only) > 0)
		d_app = ss_result_datum(call, 0, 1, &isnull);
	else
		isnull = true;
	scope_state[2] = isnull ? NULL : DatumGetJsonbP(d_app);

	values[SC_APP_NAME] = PointerGetDatum(key->app_name);
	values[SC_USER_ID] = PointerGetDatum(key->user_id);
	values[SC_SESSION_ID] = PointerGetDatum(key->session_id);
	/* in call memory: SPI's memory is gone once the caller disconnects */
	old = MemoryContextSwitchTo(call->callcxt);
	values[SC_STATE] = JsonbPGetDatum(ss_merged_state(scope_state[0],
													  scope_state[1],
													  scope_state[2]));
	MemoryContextSwitchTo(old);
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

/* 23505 for a session that exists. */
static void
ReportSessionExists(const SessionKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("session \"%s\" already exists",
					text_to_cstring(key->session_id)),
			 errdetail("App \"%s\", user \"%s\".",
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id))));
}

/*
 * 23505 for a session that exists without the call's key, distributed.
 * Under REPEATABLE READ or SERIALIZABLE the session the snapshot sees may
 * have been deleted since, and created again by the first attempt of this
 * very call: locking its head (an UPDATE, routed to the node that holds it)
 * then fails with 40001, as a single node's ReplayCreate reports it.
 */
static void
ReportSessionExistsRouted(SsCall *call, const SessionKey *key)
{
	SessionHead head;

	if (IsolationUsesXactSnapshot())
		ss_lock_head(call, key, &head);
	ReportSessionExists(key);
}

/* 40001 for a session the transaction's snapshot sees but that was deleted. */
static void
ReportConcurrentDelete(const SessionKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent delete"),
			 errdetail("Session \"%s\" of app \"%s\", user \"%s\" was deleted after this transaction's snapshot was taken.",
					   text_to_cstring(key->session_id),
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id)),
			 errhint("Retry the transaction.")));
}

/*
 * 40001 for a keyed create whose session was created by a transaction that
 * committed after this transaction's snapshot was taken: whether the key
 * is the session's cannot be answered consistently with that snapshot.
 */
static void
ReportConcurrentCreate(const SessionKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent create"),
			 errdetail("Session \"%s\" of app \"%s\", user \"%s\" was created after this transaction's snapshot was taken.",
					   text_to_cstring(key->session_id),
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id)),
			 errhint("Retry the transaction.")));
}

/* What ReplayCreate found. */
typedef enum CreateReplay
{
	CR_NO_SESSION,				/* the session does not exist */
	CR_NO_KEY,					/* it exists, without the key */
	CR_REPLAYED					/* it exists with the key: values filled */
} CreateReplay;

/*
 * A create or fork of session key with idempotency key idem_key, kind
 * KEY_CREATE or KEY_FORK: whether the session exists and holds the key.
 * When it does, values/nulls are filled with the session as get_session
 * returns it now (nothing is written); 42710 if another kind of call
 * recorded the key.  latest: look on a snapshot taken now (single node,
 * under the session lock, as CheckSessionIsNew does); otherwise on the
 * statement's snapshot (distributed).  SPI must be connected.
 */
static CreateReplay
ReplayCreate(SsCall *call, const SessionKey *key, text *idem_key,
			 SsKeyKind kind, bool latest, Datum *values, bool *nulls)
{
	Datum		args[4];
	bool		isnull;
	bool		has_key;
	Datum		op;
	SsKeyKind	used;
	int			n;

	ss_session_key_values(key, args);
	args[3] = PointerGetDatum(idem_key);
	n = latest ? ss_exec_latest(Q_IDEM_LOOKUP_CREATED, args, NULL) :
		ss_exec(Q_IDEM_LOOKUP_CREATED, args, NULL, false);
	if (n == 0)
		return CR_NO_SESSION;
	ss_check_result_type(2, TEXTOID, "idempotency_keys", "operation");
	has_key = DatumGetBool(ss_result_datum(call, 0, 1, &isnull));
	if (!has_key)
		return CR_NO_KEY;
	op = ss_result_datum(call, 0, 2, &isnull);
	used = ss_key_kind(isnull ? NULL : DatumGetTextPP(op));
	if (used != kind)
		ss_report_key_kind(key, idem_key, used, kind);

	/*
	 * Under REPEATABLE READ or SERIALIZABLE the key was found on a fresh
	 * snapshot; the transaction's may predate the create that stored it, or
	 * still see a deleted session of the same name, which must not be
	 * returned as the replay.
	 */
	if (latest && IsolationUsesXactSnapshot())
	{
		if (ss_exec(Q_IDEM_LOOKUP_CREATED, args, NULL, false) == 0)
			ReportConcurrentCreate(key);
		if (!DatumGetBool(ss_result_datum(call, 0, 1, &isnull)))
			ReportConcurrentDelete(key);
	}

	/*
	 * The session as it is now.  Under REPEATABLE READ or SERIALIZABLE the
	 * transaction's snapshot may predate the create that recorded the key.
	 */
	if (!ss_read_session(call, key, false, values, nulls))
		ReportConcurrentCreate(key);
	return CR_REPLAYED;
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
		ReportSessionExists(key);

	/*
	 * Under REPEATABLE READ or SERIALIZABLE the transaction's snapshot may
	 * still see a session of that name that was deleted since: creating it
	 * cannot be serialized with that view (and reading the new session back
	 * would meet both rows).
	 */
	if (IsolationUsesXactSnapshot() && ss_exec(Q_SESSION_EXISTS, args, NULL, true) > 0)
		ReportConcurrentDelete(key);
}

/*
 * Distributed mode: a new sid.  No counter: a node-local sequence numbers
 * on each node on its own, and a user's shard can move to another node.
 * A random 63-bit key instead, which must be unique only among the
 * sessions of one user (every table keyed by sid has user_id in its key),
 * and is made so by the unique index sessions (user_id, sid) that
 * distribute() creates: a taken sid is a conflict, and the insert is tried
 * again with another one.
 */
static int64
NewSid(void)
{
	uint64		v = 0;

	while (v == 0)
	{
		if (!pg_strong_random(&v, sizeof(v)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random session key")));
		v &= (uint64) PG_INT64_MAX;
	}
	return (int64) v;
}

#define SID_ATTEMPTS 8

/*
 * Distributed mode: insert the head of a new session (version 0, the given
 * state and last_seq) and return its sid; 0 when the session exists (the
 * caller reports it, or replays a keyed call).
 *
 * There is no lock to take before the row exists: the insert itself
 * serializes creators of one id, on the primary key of the shard that
 * holds it.  Under READ COMMITTED it is INSERT ... ON CONFLICT DO NOTHING:
 * no row back means the id exists (the next statement sees it: 23505) or,
 * with a chance of one in 2^63 per session of the user, the sid is taken
 * (another sid is tried).  Under REPEATABLE READ or SERIALIZABLE ON
 * CONFLICT would fail with 40001 on a session committed after the
 * snapshot; a plain INSERT reports any committed or concurrent duplicate as
 * 23505 at every isolation level, and is re-raised as the session-exists
 * error (a duplicate sid, at the same odds, is reported the same way).  A
 * keyed call (keyed) has looked for its key on its snapshot before: the
 * duplicate was committed since, with or without the key, and the error is
 * 40001, after which a retry of the transaction finds out.
 */
static int64
InsertSessionRouted(SsCall *call, const SessionKey *key, Jsonb *state,
					int64 last_seq, TimestampTz now, bool keyed)
{
	Datum		args[7];

	ss_session_key_values(key, args);
	args[4] = JsonbPGetDatum(state);
	args[5] = Int64GetDatum(last_seq);
	args[6] = TimestampTzGetDatum(now);

	if (IsolationUsesXactSnapshot())
	{
		MemoryContext cxt = CurrentMemoryContext;

		args[3] = Int64GetDatum(NewSid());
		PG_TRY();
		{
			ss_exec(Q_CITUS_SESSION_INSERT_STRICT, args, NULL, false);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
				PG_RE_THROW();
			FlushErrorState();
			if (keyed)
				ReportConcurrentCreate(key);
			ReportSessionExists(key);
		}
		PG_END_TRY();

		/*
		 * The snapshot may still see a session of that name deleted since
		 * it was taken: then it sees two, and the create cannot be
		 * serialized with that view.
		 */
		if (ss_exec(Q_SESSION_EXISTS, args, NULL, true) > 1)
			ReportConcurrentDelete(key);
		return DatumGetInt64(args[3]);
	}

	for (int attempt = 0; attempt < SID_ATTEMPTS; attempt++)
	{
		Datum		exists_args[3];

		args[3] = Int64GetDatum(NewSid());
		if (ss_exec(Q_CITUS_SESSION_INSERT, args, NULL, false) == 1)
			return DatumGetInt64(args[3]);
		ss_session_key_values(key, exists_args);
		if (ss_exec(Q_SESSION_EXISTS, exists_args, NULL, false) > 0)
			return 0;
	}
	elog(ERROR, "no free session key after %d attempts", SID_ATTEMPTS);
	return 0;					/* keep the compiler quiet */
}


/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_create_session);
PG_FUNCTION_INFO_V1(session_store_get_session);
PG_FUNCTION_INFO_V1(session_store_delete_session);
PG_FUNCTION_INFO_V1(session_store_fork_session);
PG_FUNCTION_INFO_V1(session_store_get_app_state);
PG_FUNCTION_INFO_V1(session_store_get_user_state);

/*
 * create_session(app_name, user_id, state, session_id [1.1: , keep_nulls]
 *				  [1.2: , idempotency_key])
 *	→ session
 *
 * Under the session lock, an existing id is looked for on a snapshot taken
 * after the lock was granted, so a session committed by a concurrent
 * creator is found at every isolation level and reported as 23505 (or, if
 * it was created with this call's idempotency key, returned).  App and
 * user state rows are created by INSERT ... ON CONFLICT, so parallel first
 * sessions of a new app or user never collide on them.
 */
Datum
session_store_create_session(PG_FUNCTION_ARGS)
{
	SsCall		call;
	SessionKey	key;
	Jsonb	   *state;
	StateDelta	delta;
	text	   *idem_key;
	Datum		args[5];
	Datum		values[SS_SESSION_NATTS];
	bool		nulls[SS_SESSION_NATTS];
	Datum		result;
	Jsonb	   *session_state;
	TimestampTz now;
	int64		sid;
	bool		isnull;

	ss_call_begin(&call);
	key.app_name = ss_arg_id(fcinfo, 0, "app_name");
	key.user_id = ss_arg_id(fcinfo, 1, "user_id");
	state = ss_arg_object_or_null(fcinfo, 2, "state");
	key.session_id = ss_arg_id_or_null(fcinfo, 3, "session_id");
	if (key.session_id == NULL)
		key.session_id = NewSessionId();
	ss_route_delta(state, ss_arg_bool(fcinfo, 4, "keep_nulls", false), &delta);
	idem_key = ss_arg_key(fcinfo, 5);
	session_state = delta.touches[SCOPE_SESSION] ?
		delta.set[SCOPE_SESSION] : ss_empty_object();

	ss_spi_begin(&call);
	if (ss_in_citus_mode)
	{
		CreateReplay found = CR_NO_SESSION;

		if (idem_key != NULL)
			found = ReplayCreate(&call, &key, idem_key, KEY_CREATE, false,
								 values, nulls);
		if (found == CR_REPLAYED)
			goto done;
		if (found == CR_NO_KEY)
			ReportSessionExistsRouted(&call, &key);
		now = GetCurrentTimestamp();
		sid = InsertSessionRouted(&call, &key, session_state, 0, now,
								  idem_key != NULL);
		if (sid == 0)
		{
			/* a concurrent create committed first: maybe our own first try */
			if (idem_key != NULL &&
				ReplayCreate(&call, &key, idem_key, KEY_CREATE, false,
							 values, nulls) == CR_REPLAYED)
				goto done;
			ReportSessionExists(&key);
		}
	}
	else
	{
		ss_lock_session(&key);
		if (idem_key != NULL &&
			ReplayCreate(&call, &key, idem_key, KEY_CREATE, true,
						 values, nulls) == CR_REPLAYED)
			goto done;
		CheckSessionIsNew(&key);

		now = GetCurrentTimestamp();
		ss_session_key_values(&key, args);
		args[3] = JsonbPGetDatum(session_state);
		args[4] = TimestampTzGetDatum(now);
		if (ss_exec(Q_SESSION_INSERT, args, NULL, false) != 1)
			ss_report_skipped_insert("sessions", "a session");
		sid = ss_result_int64(0, 1, &isnull);
	}
	ss_apply_shared_deltas(&key, &delta);
	if (idem_key != NULL)
	{
		SsKeyResult res = {0};

		res.version = 0;
		res.update_time = now;
		ss_store_call_key(&key, sid, idem_key, KEY_CREATE, &res);
	}

	if (!ss_read_session(&call, &key, false, values, nulls))
		elog(ERROR, "session created but not found");
done:
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
	/* distributed, the DELETE's own row lock serializes with the writers */
	if (!ss_in_citus_mode)
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
 * fork_session(app_name, user_id, session_id, new_session_id, up_to_seq
 *				[1.2: , idempotency_key])
 *	→ session
 *
 * A new session of the same app and user with the source's session state
 * and its messages up to up_to_seq (all when NULL), keeping their seq and
 * create_time.  The fork's last_seq is min(up_to_seq, source's last_seq),
 * so its next append continues right after the copied part, as it would
 * have in the source.  Both sessions are locked (in tag order): the copy is
 * consistent, and a concurrent append to the source lands entirely before
 * or entirely after it.  (Distributed: the source's head row is locked and
 * the new id is claimed by its insert.)  A fork whose new session exists
 * and holds its idempotency key returns it, before the source is looked
 * at: the source may have changed or gone since the fork.
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
	text	   *idem_key;
	TimestampTz now;
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
	idem_key = ss_arg_key(fcinfo, 5);

	ss_spi_begin(&call);
	if (ss_in_citus_mode)
	{
		CreateReplay found = CR_NO_SESSION;

		if (idem_key != NULL)
			found = ReplayCreate(&call, &dst, idem_key, KEY_FORK, false,
								 values, nulls);
		if (found == CR_REPLAYED)
			goto done;
		/* the source's row lock, then the insert that claims the new id */
		ss_lock_head(&call, &src, &head);
		if (found == CR_NO_KEY)
			ReportSessionExistsRouted(&call, &dst);
		last_seq = Max(0, Min(up_to_seq, head.last_seq));
		now = GetCurrentTimestamp();
		new_sid = InsertSessionRouted(&call, &dst, head.state, last_seq, now,
									  idem_key != NULL);
		if (new_sid == 0)
		{
			/* a concurrent fork committed first: maybe our own first try */
			if (idem_key != NULL &&
				ReplayCreate(&call, &dst, idem_key, KEY_FORK, false,
							 values, nulls) == CR_REPLAYED)
				goto done;
			ReportSessionExists(&dst);
		}
	}
	else
	{
		ss_lock_two_sessions(&src, &dst);
		if (idem_key != NULL &&
			ReplayCreate(&call, &dst, idem_key, KEY_FORK, true,
						 values, nulls) == CR_REPLAYED)
			goto done;
		if (!ss_read_head(&call, &src, true, &head))
			ss_report_session_missing(&src);
		CheckSessionIsNew(&dst);

		last_seq = Max(0, Min(up_to_seq, head.last_seq));
		now = GetCurrentTimestamp();
		ss_session_key_values(&src, args);
		args[3] = PointerGetDatum(dst.session_id);
		args[4] = Int64GetDatum(last_seq);
		args[5] = TimestampTzGetDatum(now);
		/* the source is locked: no row means a trigger skipped it */
		if (ss_exec(Q_SESSION_FORK, args, NULL, false) != 1)
			ss_report_skipped_insert("sessions", "a session");
		new_sid = ss_result_int64(0, 1, &isnull);
	}

	args[0] = PointerGetDatum(src.user_id);
	args[1] = Int64GetDatum(head.sid);
	args[2] = Int64GetDatum(new_sid);
	args[3] = Int64GetDatum(last_seq);
	ss_exec(Q_MESSAGE_COPY, args, NULL, false);
	if (idem_key != NULL)
	{
		SsKeyResult res = {0};

		res.version = 0;
		res.update_time = now;
		ss_store_call_key(&dst, new_sid, idem_key, KEY_FORK, &res);
	}

	if (!ss_read_session(&call, &dst, false, values, nulls))
		elog(ERROR, "session forked but not found");
done:
	ss_spi_end(&call);

	result = ss_session_result(fcinfo, &call, values, nulls);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}

/*
 * Return the state column of the last result, read from session_store.table,
 * or '{}' when there is none; a state that is not an object is XX001.
 */
static Datum
StateOrEmpty(SsCall *call, int nrows, const char *table)
{
	Datum		d = (Datum) 0;
	bool		isnull = true;
	MemoryContext old;

	if (nrows > 0)
		d = ss_result_datum(call, 0, 1, &isnull);
	if (!isnull)
		(void) ss_checked_state(DatumGetJsonbP(d), table);
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
	result = StateOrEmpty(&call, n, "app_states");
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
	result = StateOrEmpty(&call, n, "user_states");
	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_DATUM(result);
}
