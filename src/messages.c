/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  A session's message log: reading it, and removing from its end.
 *
 * get_messages takes no lock: it reads on the caller's snapshot, so the
 * session lookup and the message scan agree with each other.  Every read
 * is a range scan of the messages primary key, backward when only the
 * latest max_count are wanted (then put back in ascending order), so its
 * cost follows the rows returned and not the length of the session.
 *
 * pop_message, rewind_session and clear_session run under the session lock
 * (head.c) and advance the head only when they removed something.  They
 * never lower last_seq: a removed sequence number is not given out again.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/htup_details.h"
#include "funcapi.h"

#define FETCH_BATCH 1000

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_get_messages);

/*
 * get_messages(app_name, user_id, session_id, max_count, after_seq,
 *				before_seq) → TABLE(seq, message, create_time), ascending
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
 * pop_message(app_name, user_id, session_id, expected_version)
 *	→ TABLE(seq, message, create_time): the latest message, now removed;
 *	no row when the session has no messages (and then nothing changes).
 */
Datum
session_store_pop_message(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	SessionHead head;
	Datum		args[2];

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);

	ss_spi_begin(&call);
	ss_lock_head(&call, &key, &head);
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
		/* last_seq stays: a popped number is never given out again */
		ss_advance_head(&call, &head, head.last_seq, NULL);
	}

	ss_spi_end(&call);
	ss_call_end(&call);
	return (Datum) 0;
}

/*
 * Under the session lock, delete the messages that query q selects (its
 * arguments: user_id, sid and, for rewind, seq); advance the head if any
 * went.  Returns how many.
 */
static int64
RemoveMessages(FunctionCallInfo fcinfo, SsQuery q, int version_argno,
			   int64 seq)
{
	SsCall		call;
	SessionKey	key;
	SessionHead head;
	Datum		args[3];
	int64		removed;

	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);

	ss_spi_begin(&call);
	ss_lock_head(&call, &key, &head);
	ss_check_version(fcinfo, version_argno, &key, &head);

	args[0] = PointerGetDatum(key.user_id);
	args[1] = Int64GetDatum(head.sid);
	args[2] = Int64GetDatum(seq);
	removed = ss_exec(q, args, NULL, false);
	if (removed > 0)
		ss_advance_head(&call, &head, head.last_seq, NULL);

	ss_spi_end(&call);
	ss_call_end(&call);
	return removed;
}

/* rewind_session(app_name, user_id, session_id, to_seq, expected_version)
 *	→ how many messages with seq > to_seq were deleted */
Datum
session_store_rewind_session(PG_FUNCTION_ARGS)
{
	ss_require_arg(fcinfo, 3, "to_seq");
	PG_RETURN_INT64(RemoveMessages(fcinfo, Q_MESSAGE_DELETE_AFTER, 4,
								   PG_GETARG_INT64(3)));
}

/* clear_session(app_name, user_id, session_id, expected_version)
 *	→ how many messages were deleted; the session and its state stay */
Datum
session_store_clear_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(RemoveMessages(fcinfo, Q_MESSAGE_DELETE_ALL, 3, 0));
}
