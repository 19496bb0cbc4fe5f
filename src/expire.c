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
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

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
	args[0] = TimestampTzGetDatum(cutoff);
	args[1] = Int32GetDatum(max_sessions);
	args[2] = PointerGetDatum(app_name);
	ncandidates = ss_exec(app_name ? Q_EXPIRE_CANDIDATES_APP : Q_EXPIRE_CANDIDATES_ALL,
						  args, NULL, false);

	/* keep the candidates: the statements below replace SPI_tuptable */
	candidates = palloc(sizeof(SessionKey) * Max(ncandidates, 1));
	for (int i = 0; i < ncandidates; i++)
	{
		bool		isnull;

		candidates[i].app_name = DatumGetTextPP(ss_result_datum(&call, i, 1, &isnull));
		candidates[i].user_id = DatumGetTextPP(ss_result_datum(&call, i, 2, &isnull));
		candidates[i].session_id = DatumGetTextPP(ss_result_datum(&call, i, 3, &isnull));
	}

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
