/*-------------------------------------------------------------------------
 *
 * head.c
 *	  The session head: the sessions row that every mutation serializes on.
 *
 * A mutation (append, pop, rewind, clear) goes:
 *
 *	ss_lock_head      take the session lock (lock.c), then read the head on a
 *	                  snapshot taken after the lock was granted;
 *	ss_check_version  compare expected_version (40001);
 *	ss_advance_head   version + 1, update_time, last_seq, session state.
 *
 * Under READ COMMITTED the lock makes the read-then-write safe: no one else
 * can change the head until we commit.  Under REPEATABLE READ or
 * SERIALIZABLE the read may be older than the last holder's commit; the
 * UPDATE in ss_advance_head then fails with 40001 ("could not serialize
 * access due to concurrent update").  Appends advance the head before they
 * insert messages, so a stale last_seq never reaches an INSERT; removals
 * (pop, rewind, clear) only delete, and their head update fails the same
 * way when the snapshot was stale, rolling the deletes back.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "utils/builtins.h"

/* Read the head of a session into *head; false if it does not exist. */
bool
ss_read_head(SsCall *call, const SessionKey *key, bool read_only,
			 SessionHead *head)
{
	Datum		args[3];
	bool		isnull;

	ss_session_key_values(key, args);
	if (ss_exec(Q_SESSION_HEAD, args, NULL, read_only) == 0)
		return false;
	head->sid = ss_result_int64(0, 1, &isnull);
	head->version = ss_result_int64(0, 2, &isnull);
	head->last_seq = ss_result_int64(0, 3, &isnull);
	head->update_time = DatumGetTimestampTz(ss_result_datum(call, 0, 4, &isnull));
	return true;
}

/* Take the session lock and read the head; 42704 if there is no session. */
void
ss_lock_head(SsCall *call, const SessionKey *key, SessionHead *head)
{
	ss_lock_session(key);
	if (!ss_read_head(call, key, false, head))
		ss_report_session_missing(key);
}

/*
 * 40001 if argument argno (expected_version) is not NULL and differs from
 * the head's version.
 */
void
ss_check_version(FunctionCallInfo fcinfo, int argno, const SessionKey *key,
				 const SessionHead *head)
{
	int64		expected;

	if (PG_ARGISNULL(argno))
		return;
	expected = PG_GETARG_INT64(argno);
	if (expected != head->version)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("session \"%s\" is at version " INT64_FORMAT ", not " INT64_FORMAT,
						text_to_cstring(key->session_id), head->version,
						expected),
				 errdetail("App \"%s\", user \"%s\".",
						   text_to_cstring(key->app_name),
						   text_to_cstring(key->user_id)),
				 errhint("Read the session again and retry with its current version.")));
}

/*
 * Record one successful mutation: version + 1, last_seq = new_last_seq,
 * update_time = now (never earlier than the previous update_time), and the
 * session part of delta when it has one (delta may be NULL).  Updates
 * *head to match.
 */
void
ss_advance_head(const SessionKey *key, SessionHead *head, int64 new_last_seq,
				const StateDelta *delta)
{
	Datum		args[9];
	char		nulls[9];
	bool		touches = delta != NULL && delta->touches[SCOPE_SESSION];

	head->version += 1;
	head->last_seq = new_last_seq;
	head->update_time = Max(GetCurrentTimestamp(), head->update_time);

	memset(nulls, ' ', sizeof(nulls));
	ss_session_key_values(key, args);
	args[3] = Int64GetDatum(head->version);
	args[4] = Int64GetDatum(head->last_seq);
	args[5] = TimestampTzGetDatum(head->update_time);
	args[6] = BoolGetDatum(touches);
	if (touches)
	{
		args[7] = JsonbPGetDatum(delta->set[SCOPE_SESSION]);
		args[8] = delta->remove[SCOPE_SESSION];
	}
	else
		nulls[7] = nulls[8] = 'n';
	if (ss_exec(Q_SESSION_UPDATE, args, nulls, false) != 1)
		elog(ERROR, "session head vanished under the session lock");
}

/* Delete the messages and idempotency keys of session (user_id, sid). */
void
ss_delete_session_contents(text *user_id, int64 sid)
{
	Datum		args[2];

	args[0] = PointerGetDatum(user_id);
	args[1] = Int64GetDatum(sid);
	ss_exec(Q_MESSAGE_DELETE_ALL, args, NULL, false);
	ss_exec(Q_IDEM_DELETE_ALL, args, NULL, false);
}
