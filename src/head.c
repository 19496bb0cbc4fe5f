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
 * The head is read and written through direct.c, not SPI: these steps sit
 * inside the session lock's critical section on every append.
 *
 * Distributed (citus.c) the rows live in shards, so the head is read,
 * locked and written through SQL that Citus routes to the head's shard,
 * and the session lock is the head's row lock: ss_lock_head takes it with
 * an UPDATE that changes nothing and returns the head (UPDATE ... RETURNING,
 * store.c says why not SELECT ... FOR UPDATE), on the node that holds it,
 * which excludes a call delegated to that node and one run from any other
 * node alike.  Under READ COMMITTED it returns the latest committed head;
 * under REPEATABLE READ or SERIALIZABLE, a head changed since the snapshot
 * makes it fail with 40001, before anything else is written.
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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

/* Column col of the last SPI result, which must not be NULL. */
static Datum
RoutedColumn(SsCall *call, int col, const char *name)
{
	bool		isnull;
	Datum		d = ss_result_datum(call, 0, col, &isnull);

	if (isnull)
		ss_report_null_column("sessions", name);
	return d;
}

/*
 * Distributed mode: read the head through SPI, locking its row when
 * for_update (the session lock, see the top).  SPI is connected here if
 * the caller has not done it yet.
 */
static bool
ReadHeadRouted(SsCall *call, const SessionKey *key, bool for_update,
			   SessionHead *head)
{
	Datum		args[3];
	int			n;

	ss_spi_begin(call);
	ss_session_key_values(key, args);
	n = ss_exec(for_update ? Q_CITUS_HEAD_LOCK : Q_CITUS_HEAD_READ, args,
				NULL, !for_update);
	if (n == 0)
		return false;
	if (n != 1)
		elog(ERROR, "session head read returned %d rows", n);
	head->sid = DatumGetInt64(RoutedColumn(call, 1, "sid"));
	head->version = DatumGetInt64(RoutedColumn(call, 2, "version"));
	head->last_seq = DatumGetInt64(RoutedColumn(call, 3, "last_seq"));
	head->update_time = DatumGetTimestampTz(RoutedColumn(call, 4, "update_time"));
	head->state = DatumGetJsonbP(RoutedColumn(call, 5, "state"));
	head->tuple = NULL;
	head->key = key;
	return true;
}

/*
 * Read the head of a session into *head; false if it does not exist.
 *
 * for_update: the caller holds the session lock and will change the
 * session, so the read must see the latest committed head, including what
 * the previous lock holder committed after our statement began.  Under
 * READ COMMITTED that is SnapshotSelf: with the lock held nobody else can
 * be changing the head, so the newest committed version is the only live
 * one, and SnapshotSelf also sees what earlier calls of this transaction
 * (even of this statement) wrote, without taking a snapshot.  Under
 * REPEATABLE READ and SERIALIZABLE the read stays on the transaction's
 * snapshot: a head changed since then makes the update fail with 40001.
 * Either way the command counter is advanced first, so that our own
 * earlier writes are visible and can be updated.
 * Otherwise (a reader) it runs on the caller's snapshot, like any read.
 */
bool
ss_read_head(SsCall *call, const SessionKey *key, bool for_update,
			 SessionHead *head)
{
	SsTable    *t;
	Snapshot	snap;
	HeapTuple	tuple;
	MemoryContext old;

	if (ss_in_citus_mode)
		return ReadHeadRouted(call, key, for_update, head);
	t = ss_table(call, SS_SESSIONS, for_update);
	if (!for_update)
		snap = RegisterSnapshot(GetActiveSnapshot());
	else
	{
		/*
		 * A new command id: an earlier call of this same statement may have
		 * written the head, and heap_update cannot change a row that was
		 * created by the command updating it.
		 */
		CommandCounterIncrement();
		snap = ss_locked_snapshot();
	}
	old = MemoryContextSwitchTo(call->callcxt);	/* outlives SPI memory */
	tuple = ss_fetch_head(t, key, snap);
	MemoryContextSwitchTo(old);
	ss_release_locked_snapshot(snap);
	if (tuple == NULL)
		return false;
	ss_head_from_tuple(t, tuple, head);
	head->tuple = tuple;
	return true;
}

/*
 * The snapshot of a read under the session lock (see ss_read_head): under
 * READ COMMITTED SnapshotSelf, which sees what the previous lock holder
 * committed and what this transaction wrote; under REPEATABLE READ and
 * SERIALIZABLE the transaction's snapshot, with the current command id.
 * Release it with ss_release_locked_snapshot.
 */
Snapshot
ss_locked_snapshot(void)
{
	if (IsolationUsesXactSnapshot())
		return RegisterSnapshot(GetTransactionSnapshot());
	return SnapshotSelf;
}

void
ss_release_locked_snapshot(Snapshot snap)
{
	if (snap != SnapshotSelf)
		UnregisterSnapshot(snap);
}

/*
 * Take the session lock and read the head; 42704 if there is no session.
 * The sessions table is opened first: opening it is no part of the critical
 * section the lock guards.
 */
void
ss_lock_head(SsCall *call, const SessionKey *key, SessionHead *head)
{
	if (ss_in_citus_mode)
	{
		/* the locking UPDATE is the session lock */
		if (!ReadHeadRouted(call, key, true, head))
			ss_report_session_missing(key);
		return;
	}
	(void) ss_table(call, SS_SESSIONS, true);
	ss_lock_session(key);
	if (!ss_read_head(call, key, true, head))
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
 * The last sequence number of n messages appended after last_seq; 22003
 * when it does not fit (a head written around the API can hold any value).
 * PG_INT64_MAX itself is never given out: get_messages' window is open at
 * both ends, and every stored message must be in some window.
 */
int64
ss_seq_after(const SessionKey *key, int64 last_seq, int64 n)
{
	int64		result;

	if (pg_add_s64_overflow(last_seq, n, &result) || result == PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sequence numbers of session \"%s\" are exhausted",
						text_to_cstring(key->session_id)),
				 errdetail("Its last sequence number is " INT64_FORMAT ".", last_seq)));
	return result;
}

/*
 * Record one successful mutation of a session read by ss_lock_head:
 * version + 1, last_seq = new_last_seq, update_time = now (never earlier
 * than the previous update_time), and the session part of delta when it
 * has one (delta may be NULL).  Updates *head to match.
 */
void
ss_advance_head(SsCall *call, SessionHead *head, int64 new_last_seq,
				const StateDelta *delta)
{
	SsTable    *t = ss_in_citus_mode ? NULL : ss_table(call, SS_SESSIONS, true);
	Jsonb	   *new_state = NULL;
	int64		version;

	if (pg_add_s64_overflow(head->version, 1, &version))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("session version " INT64_FORMAT " cannot be advanced",
						head->version)));
	head->version = version;
	if (new_last_seq < head->last_seq)
		elog(ERROR, "last_seq of a session cannot decrease");
	head->last_seq = new_last_seq;
	head->update_time = Max(GetCurrentTimestamp(), head->update_time);
	if (ss_in_citus_mode)
	{
		Datum		args[7];

		if (delta != NULL && delta->touches[SCOPE_SESSION])
			head->state = ss_apply_delta(head->state,
										 delta->set[SCOPE_SESSION],
										 delta->remove[SCOPE_SESSION]);
		ss_spi_begin(call);
		ss_session_key_values(head->key, args);
		args[3] = Int64GetDatum(head->version);
		args[4] = Int64GetDatum(head->last_seq);
		args[5] = TimestampTzGetDatum(head->update_time);
		args[6] = JsonbPGetDatum(head->state);
		if (ss_exec(Q_CITUS_HEAD_UPDATE, args, NULL, false) != 1)
			elog(ERROR, "session head vanished under its row lock");
		return;
	}
	if (delta != NULL && delta->touches[SCOPE_SESSION])
		new_state = ss_apply_delta(ss_head_state(t, head->tuple),
								   delta->set[SCOPE_SESSION],
								   delta->remove[SCOPE_SESSION]);
	ss_update_head(t, head->tuple, head, new_state);
}

/*
 * Before the session lock: open the messages table for an append's
 * inserts (direct path only; distributed, the inserts are statements).
 */
void
ss_prepare_append(SsCall *call)
{
	if (!ss_in_citus_mode)
		(void) ss_table(call, SS_MESSAGES, true);
}

/*
 * Insert n messages of session (user_id, sid) with seq first_seq,
 * first_seq + 1, ..., under the session lock: through direct.c on a single
 * node; distributed, one routed INSERT, of an array for a batch (the
 * head's shard holds the messages too: both are distributed by user_id,
 * colocated).
 */
void
ss_append_rows(SsCall *call, text *user_id, int64 sid, int64 first_seq,
			   Datum *messages, int n, TimestampTz create_time)
{
	Datum		args[5];

	if (!ss_in_citus_mode)
	{
		ss_insert_messages(ss_table(call, SS_MESSAGES, true), user_id, sid,
						   first_seq, messages, n, create_time);
		return;
	}
	ss_spi_begin(call);
	args[0] = PointerGetDatum(user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = Int64GetDatum(first_seq);
	args[4] = TimestampTzGetDatum(create_time);
	if (n == 1)
		args[3] = messages[0];
	else
		args[3] = PointerGetDatum(construct_array(messages, n, JSONBOID,
												  -1, false, TYPALIGN_INT));
	/* as the direct path refuses it (direct.c, InsertMessageThroughTriggers) */
	if (ss_exec(n == 1 ? Q_CITUS_MESSAGE_INSERT : Q_CITUS_MESSAGES_INSERT,
				args, NULL, false) != n)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("a trigger on session_store.messages skipped the insert of a message"),
				 errdetail("Triggers on session_store.messages must not cancel the extension's inserts.")));
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
