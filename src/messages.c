/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  A session's message log: reading it, and removing from its end.
 *
 * get_messages takes no lock: it reads on the caller's snapshot, so the
 * session lookup and the message scan agree with each other.  Every read
 * is a range scan of the messages primary key, backward when only the
 * latest max_count are wanted (then put back in ascending order), so its
 * cost follows the rows returned and not the length of the session.  With
 * after_time (1.1) the scan is always backward, from the newest message of
 * the window, and stops at the first message older than after_time: it
 * reads the rows it returns and one more.
 *
 * pop_message, rewind_session and clear_session run under the session lock
 * (head.c) and advance the head only when they removed something.  They
 * never lower last_seq: a removed sequence number is not given out again.
 * With an idempotency key (1.2, keys.c) they look it up under that lock: a
 * key they stored before returns its stored result and nothing changes.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define FETCH_BATCH 1000

/* get_messages' arguments in 1.0; 1.1 adds after_time. */
#define GET_MESSAGES_NARGS_1_0 6

/* Columns of session_store.messages, in ss_messages_attnum's numbering. */
enum
{
	MSG_USER_ID = 1, MSG_SID, MSG_SEQ, MSG_MESSAGE, MSG_CREATE_TIME
};

static void EmitSinceRouted(SsCall *call, ReturnSetInfo *rsinfo,
							text *user_id, int64 sid, int64 after_seq,
							int64 before_seq, TimestampTz after_time,
							bool latest, int32 max_count);

/*
 * The messages of the window after_seq < seq < before_seq of session
 * (user_id, sid) whose create_time >= after_time, at most max_count of
 * them when latest: a backward scan of the primary key from the newest
 * message of the window that stops at the first message older than
 * after_time.  Emitted in ascending seq order.  Runs on the caller's
 * snapshot.
 */
static void
EmitSince(SsCall *call, ReturnSetInfo *rsinfo, text *user_id, int64 sid,
		  int64 after_seq, int64 before_seq, TimestampTz after_time,
		  bool latest, int32 max_count)
{
	SsTable    *t;
	Relation	pkey;
	ScanKeyData keys[4];
	Snapshot	snap;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	att_seq,
				att_message,
				att_time;
	Datum	   *rows;			/* seq, message, create_time per row */
	int			cap = 16;
	int			n = 0;

	if (latest && max_count == 0)
		return;
	if (ss_in_citus_mode)
	{
		EmitSinceRouted(call, rsinfo, user_id, sid, after_seq, before_seq,
						after_time, latest, max_count);
		return;
	}
	t = ss_table(call, SS_MESSAGES, false);
	pkey = ss_messages_key(t);
	att_seq = ss_messages_attnum(t, MSG_SEQ);
	att_message = ss_messages_attnum(t, MSG_MESSAGE);
	att_time = ss_messages_attnum(t, MSG_CREATE_TIME);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   pkey->rd_indcollation[0],
						   F_TEXTEQ, PointerGetDatum(user_id));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_INT8EQ, Int64GetDatum(sid));
	ScanKeyEntryInitialize(&keys[2], 0, 3, BTGreaterStrategyNumber, InvalidOid,
						   InvalidOid, F_INT8GT, Int64GetDatum(after_seq));
	ScanKeyEntryInitialize(&keys[3], 0, 3, BTLessStrategyNumber, InvalidOid,
						   InvalidOid, F_INT8LT, Int64GetDatum(before_seq));

	rows = palloc(sizeof(Datum) * 3 * cap);
	snap = RegisterSnapshot(GetActiveSnapshot());
	slot = table_slot_create(t->rel, NULL);
	scan = SS_INDEX_BEGINSCAN(t->rel, pkey, snap, 4, 0);
	index_rescan(scan, keys, 4, NULL, 0);
	while ((!latest || n < max_count) &&
		   index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull[3];
		Datum		seq = slot_getattr(slot, att_seq, &isnull[0]);
		Datum		message = slot_getattr(slot, att_message, &isnull[1]);
		Datum		created = slot_getattr(slot, att_time, &isnull[2]);

		if (isnull[0] || isnull[1] || isnull[2])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("session_store.messages holds a NULL column")));
		if (DatumGetTimestampTz(created) < after_time)
			break;
		if (n == cap)
		{
			cap *= 2;
			rows = repalloc(rows, sizeof(Datum) * 3 * cap);
		}
		/* copied: the slot's tuple is gone at the next fetch */
		rows[3 * n] = Int64GetDatum(DatumGetInt64(seq));
		rows[3 * n + 1] = datumCopy(message, false, -1);
		rows[3 * n + 2] = TimestampTzGetDatum(DatumGetTimestampTz(created));
		n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);

	for (int i = n - 1; i >= 0; i--)
	{
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 &rows[3 * i], nulls);
	}
	pfree(rows);
}

/*
 * EmitSince in distributed mode: the same backward walk, as routed queries
 * of at most SINCE_PAGE messages each, every page continuing below the
 * oldest sequence number of the last one; it reads the rows it returns and
 * at most one page more.
 */
#define SINCE_PAGE 100

static void
EmitSinceRouted(SsCall *call, ReturnSetInfo *rsinfo, text *user_id, int64 sid,
				int64 after_seq, int64 before_seq, TimestampTz after_time,
				bool latest, int32 max_count)
{
	Datum	   *rows = NULL;	/* 3 per message: seq, message, create_time */
	int			cap = 0;
	int			n = 0;
	bool		done = false;
	Datum		args[5];

	while (!done && (!latest || n < max_count))
	{
		int64		limit = latest ? Min(SINCE_PAGE, max_count - n) : SINCE_PAGE;
		int			got;

		args[0] = PointerGetDatum(user_id);
		args[1] = Int64GetDatum(sid);
		args[2] = Int64GetDatum(after_seq);
		args[3] = Int64GetDatum(before_seq);
		args[4] = Int64GetDatum(limit);
		got = ss_exec(Q_CITUS_MESSAGES_BACK, args, NULL, true);
		ss_check_result_type(1, INT8OID, "messages", "seq");
		ss_check_result_type(2, JSONBOID, "messages", "message");
		ss_check_result_type(3, TIMESTAMPTZOID, "messages", "create_time");
		done = got < limit;
		for (int r = 0; r < got; r++)
		{
			bool		isnull[3];
			Datum		seq = ss_result_datum(call, r, 1, &isnull[0]);
			Datum		message = ss_result_datum(call, r, 2, &isnull[1]);
			Datum		created = ss_result_datum(call, r, 3, &isnull[2]);

			if (isnull[0] || isnull[1] || isnull[2])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("session_store.messages holds a NULL column")));
			if (DatumGetTimestampTz(created) < after_time)
			{
				done = true;
				break;
			}
			if (n == cap)
			{
				MemoryContext old = MemoryContextSwitchTo(call->callcxt);

				cap = Max(16, cap * 2);
				rows = rows ? repalloc(rows, sizeof(Datum) * 3 * cap) :
					palloc(sizeof(Datum) * 3 * cap);
				MemoryContextSwitchTo(old);
			}
			rows[3 * n] = seq;
			rows[3 * n + 1] = message;
			rows[3 * n + 2] = created;
			n++;
			before_seq = DatumGetInt64(seq);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	for (int i = n - 1; i >= 0; i--)
	{
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 &rows[3 * i], nulls);
	}
}

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_get_messages);

/*
 * get_messages(app_name, user_id, session_id, max_count, after_seq,
 *				before_seq [1.1: , after_time])
 *	→ TABLE(seq, message, create_time), ascending
 */
Datum
session_store_get_messages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	bool		latest = !PG_ARGISNULL(3);
	int32		max_count = latest ? PG_GETARG_INT32(3) : 0;
	int64		after_seq = PG_ARGISNULL(4) ? PG_INT64_MIN : PG_GETARG_INT64(4);
	int64		before_seq = PG_ARGISNULL(5) ? PG_INT64_MAX : PG_GETARG_INT64(5);
	bool		since = PG_NARGS() > GET_MESSAGES_NARGS_1_0 && !PG_ARGISNULL(6);
	SessionHead head;
	Datum		args[5];
	Portal		portal;

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	if (max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"max_count\" must not be negative")));

	ss_spi_begin(&call);
	if (!ss_read_head(&call, &key, false, &head))
		ss_report_session_missing(&key);

	if (since)
	{
		EmitSince(&call, rsinfo, key.user_id, head.sid, after_seq, before_seq,
				  PG_GETARG_TIMESTAMPTZ(6), latest, max_count);
		ss_spi_end(&call);
		ss_call_end(&call);
		return (Datum) 0;
	}

	args[0] = PointerGetDatum(key.user_id);
	args[1] = Int64GetDatum(head.sid);
	args[2] = Int64GetDatum(after_seq);
	args[3] = Int64GetDatum(before_seq);
	args[4] = Int64GetDatum((int64) max_count);
	portal = ss_open_cursor(latest ? Q_MESSAGES_LATEST : Q_MESSAGES_RANGE,
							args, NULL);
	/* fetch in batches: a whole session never has to fit in memory at once */
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			Datum		values[3];
			bool		nulls[3];

			heap_deform_tuple(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
							  values, nulls);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	ss_spi_end(&call);
	ss_call_end(&call);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(session_store_pop_message);
PG_FUNCTION_INFO_V1(session_store_rewind_session);
PG_FUNCTION_INFO_V1(session_store_clear_session);

/*
 * pop_message(app_name, user_id, session_id, expected_version
 *			   [1.2: , idempotency_key])
 *	→ TABLE(seq, message, create_time): the latest message, now removed;
 *	no row when the session has no messages (and then nothing changes but
 *	a key recorded).  A replayed key returns the row its call popped.
 */
Datum
session_store_pop_message(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	SessionHead head;
	Datum		args[2];
	text	   *idem_key;
	SsKeyResult res = {0};

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	idem_key = ss_arg_key(fcinfo, 4);

	ss_spi_begin(&call);
	ss_lock_head(&call, &key, &head);
	if (idem_key != NULL &&
		ss_lookup_call_key(&call, &key, head.sid, idem_key, KEY_POP, &res))
	{
		if (res.popped)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = Int64GetDatum(res.popped_seq);
			values[1] = res.popped_message;
			values[2] = TimestampTzGetDatum(res.popped_time);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
		goto done;
	}
	ss_check_version(fcinfo, 3, &key, &head);

	args[0] = PointerGetDatum(key.user_id);
	args[1] = Int64GetDatum(head.sid);
	if (ss_exec(Q_MESSAGE_POP, args, NULL, false) > 0)
	{
		Datum		values[3];
		bool		nulls[3];

		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						  values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (idem_key != NULL)
		{
			bool		isnull;

			res.popped = true;
			res.popped_seq = DatumGetInt64(values[0]);
			res.popped_message = ss_result_datum(&call, 0, 2, &isnull);
			res.popped_time = DatumGetTimestampTz(values[2]);
		}
		/* last_seq stays: a popped number is never given out again */
		ss_advance_head(&call, &head, head.last_seq, NULL);
	}
	if (idem_key != NULL)
	{
		res.version = head.version;
		res.update_time = head.update_time;
		ss_store_call_key(&key, head.sid, idem_key, KEY_POP, &res);
	}

done:
	ss_spi_end(&call);
	ss_call_end(&call);
	return (Datum) 0;
}

/*
 * Under the session lock, delete the messages that query q selects (its
 * arguments: user_id, sid and, for rewind, seq); advance the head if any
 * went.  Returns how many.  The idempotency key (argument version_argno + 1,
 * of kind kind) returns the count its call returned, removing nothing.
 */
static int64
RemoveMessages(FunctionCallInfo fcinfo, SsQuery q, int version_argno,
			   int64 seq, SsKeyKind kind)
{
	SsCall		call;
	SessionKey	key;
	SessionHead head;
	Datum		args[3];
	int64		removed;
	text	   *idem_key;
	SsKeyResult res = {0};

	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	idem_key = ss_arg_key(fcinfo, version_argno + 1);

	ss_spi_begin(&call);
	ss_lock_head(&call, &key, &head);
	if (idem_key != NULL &&
		ss_lookup_call_key(&call, &key, head.sid, idem_key, kind, &res))
	{
		removed = res.removed;
		goto done;
	}
	ss_check_version(fcinfo, version_argno, &key, &head);

	args[0] = PointerGetDatum(key.user_id);
	args[1] = Int64GetDatum(head.sid);
	args[2] = Int64GetDatum(seq);
	removed = ss_exec(q, args, NULL, false);
	if (removed > 0)
		ss_advance_head(&call, &head, head.last_seq, NULL);
	if (idem_key != NULL)
	{
		res.version = head.version;
		res.update_time = head.update_time;
		res.removed = removed;
		ss_store_call_key(&key, head.sid, idem_key, kind, &res);
	}

done:
	ss_spi_end(&call);
	ss_call_end(&call);
	return removed;
}

/* rewind_session(app_name, user_id, session_id, to_seq, expected_version
 *				   [1.2: , idempotency_key])
 *	→ how many messages with seq > to_seq were deleted */
Datum
session_store_rewind_session(PG_FUNCTION_ARGS)
{
	ss_require_arg(fcinfo, 3, "to_seq");
	PG_RETURN_INT64(RemoveMessages(fcinfo, Q_MESSAGE_DELETE_AFTER, 4,
								   PG_GETARG_INT64(3), KEY_REWIND));
}

/* clear_session(app_name, user_id, session_id, expected_version
 *				  [1.2: , idempotency_key])
 *	→ how many messages were deleted; the session and its state stay */
Datum
session_store_clear_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(RemoveMessages(fcinfo, Q_MESSAGE_DELETE_ALL, 3, 0,
								   KEY_CLEAR));
}
