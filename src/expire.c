/*-------------------------------------------------------------------------
 *
 * expire.c
 *	  expire_sessions: delete idle sessions in bounded batches, beside
 *	  clients that keep writing.
 *
 * Candidates are the sessions whose update_time is older than the cutoff,
 * oldest first per app, at most max_sessions of them (store.c explains the
 * queries).  For each, the session lock is only tried: a session someone is
 * writing is skipped, never waited for.  Under the lock its head is read
 * again on a fresh snapshot and the cutoff checked again, so a session that
 * received an append after it was chosen is left alone.  Then the session,
 * its messages and its idempotency keys go, each by primary key.
 *
 * Each deleted session keeps its lock until commit, one lock table entry
 * each; a candidate that was not deleted is unlocked at once.  Run it
 * under READ COMMITTED (a plain autocommit call): under REPEATABLE READ a
 * session written since the snapshot makes the call fail with 40001.
 *
 * Distributed (citus.c), see ExpireRouted: the same rules, with the head's
 * row lock tried (SKIP LOCKED) in place of the session lock.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* Row i of the last candidates query, as a session key in call memory. */
static void
KeepCandidate(SsCall *call, int i, SessionKey *key)
{
	text	  **cols[3] = {&key->app_name, &key->user_id, &key->session_id};

	for (int c = 0; c < 3; c++)
	{
		bool		isnull;
		Datum		d = ss_result_datum(call, i, c + 1, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("session_store.sessions holds a NULL name")));
		*cols[c] = DatumGetTextPP(d);
	}
}

/*
 * Distributed mode.  Candidates: for one app, its idle sessions, oldest
 * first, as one multi-shard query (each shard reads its listing index up to
 * the batch, Citus merges); for all apps, the app names are walked with one
 * multi-shard min() per app (an index probe on each shard), no WITH
 * RECURSIVE.  A batch costs O(shards x (apps + batch)) index probes.  Each
 * candidate's head is then deleted only if nobody holds it and it is still
 * idle (one DELETE whose subquery locks it FOR UPDATE SKIP LOCKED, on its
 * shard): a session being written is skipped, never waited for, and one
 * written since it was chosen stays.
 */
static int64
ExpireRouted(SsCall *call, TimestampTz cutoff, text *app_name,
			 int32 max_sessions)
{
	SessionKey *candidates = palloc(sizeof(SessionKey) * max_sessions);
	int			ncandidates = 0;
	text	   *app = app_name;
	int64		deleted = 0;
	Datum		args[4];

	for (;;)
	{
		int			n;
		bool		isnull;
		Datum		d;

		if (app_name == NULL)
		{
			/* the next app name after app (the first when app is NULL) */
			args[0] = PointerGetDatum(app);
			n = ss_exec(app == NULL ? Q_CITUS_FIRST_APP : Q_CITUS_NEXT_APP,
						args, NULL, true);
			if (n != 1)
				elog(ERROR, "min() returned %d rows", n);
			d = ss_result_datum(call, 0, 1, &isnull);
			if (isnull)
				break;			/* no app after the last one */
			app = DatumGetTextPP(d);
		}
		args[0] = TimestampTzGetDatum(cutoff);
		args[1] = Int32GetDatum(max_sessions - ncandidates);
		args[2] = PointerGetDatum(app);
		n = ss_exec(Q_EXPIRE_CANDIDATES_APP, args, NULL, true);
		for (int i = 0; i < n && ncandidates < max_sessions; i++)
			KeepCandidate(call, i, &candidates[ncandidates++]);
		if (app_name != NULL || ncandidates >= max_sessions)
			break;
	}

	for (int i = 0; i < ncandidates; i++)
	{
		SessionKey *key = &candidates[i];
		bool		isnull;
		int64		sid;

		ss_session_key_values(key, args);
		args[3] = TimestampTzGetDatum(cutoff);
		if (ss_exec(Q_CITUS_EXPIRE_DELETE, args, NULL, false) == 0)
			continue;			/* being written, written since, or gone */
		sid = ss_result_int64(0, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("session_store.sessions holds a NULL sid")));
		ss_delete_session_contents(key->user_id, sid);
		deleted++;
	}
	return deleted;
}

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_expire_sessions);

/*
 * expire_sessions(idle_for, app_name, max_sessions) → how many were deleted
 */
Datum
session_store_expire_sessions(PG_FUNCTION_ARGS)
{
	SsCall		call;
	Interval   *idle_for;
	Interval	zero = {0};
	text	   *app_name;
	int32		max_sessions;
	TimestampTz cutoff;
	Datum		args[4];
	SessionKey *candidates;
	int			ncandidates;
	int64		deleted = 0;

	ss_call_begin(&call);
	ss_require_arg(fcinfo, 0, "idle_for");
	idle_for = PG_GETARG_INTERVAL_P(0);
	if (DatumGetBool(DirectFunctionCall2(interval_lt,
										 IntervalPGetDatum(idle_for),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"idle_for\" must not be negative")));
	app_name = ss_arg_id_or_null(fcinfo, 1, "app_name");
	ss_require_arg(fcinfo, 2, "max_sessions");
	max_sessions = PG_GETARG_INT32(2);
	if (max_sessions < 1 || max_sessions > SS_MAX_EXPIRE_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"max_sessions\" must be between 1 and %d",
						SS_MAX_EXPIRE_BATCH),
				 errhint("Call expire_sessions again for the next batch.")));
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(idle_for)));

	ss_spi_begin(&call);
	if (ss_in_citus_mode)
	{
		deleted = ExpireRouted(&call, cutoff, app_name, max_sessions);
		ss_spi_end(&call);
		ss_call_end(&call);
		PG_RETURN_INT64(deleted);
	}
	args[0] = TimestampTzGetDatum(cutoff);
	args[1] = Int32GetDatum(max_sessions);
	args[2] = PointerGetDatum(app_name);
	ncandidates = ss_exec(app_name ? Q_EXPIRE_CANDIDATES_APP : Q_EXPIRE_CANDIDATES_ALL,
						  args, NULL, false);

	/* keep the candidates: the statements below replace SPI_tuptable */
	candidates = palloc(sizeof(SessionKey) * Max(ncandidates, 1));
	for (int i = 0; i < ncandidates; i++)
		KeepCandidate(&call, i, &candidates[i]);

	for (int i = 0; i < ncandidates; i++)
	{
		SessionKey *key = &candidates[i];
		SessionHead head;

		if (!ss_try_lock_session(key))
			continue;			/* being written: not idle, not ours to wait for */

		if (!ss_read_head(&call, key, true, &head) || head.update_time >= cutoff)
		{
			/* deleted or written since it was chosen: leave it */
			ss_unlock_session(key);
			continue;
		}
		ss_session_key_values(key, args);
		ss_exec(Q_SESSION_DELETE, args, NULL, false);
		ss_delete_session_contents(key->user_id, head.sid);
		deleted++;
	}

	ss_spi_end(&call);
	ss_call_end(&call);
	PG_RETURN_INT64(deleted);
}
