/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  Reading a session's message log.
 *
 * get_messages takes no lock: it reads on the caller's snapshot, so the
 * session lookup and the message scan agree with each other.  Every read
 * is a range scan of the messages primary key, backward when only the
 * latest max_count are wanted (then put back in ascending order), so its
 * cost follows the rows returned and not the length of the session.
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
	Datum		args[5];
	bool		isnull;
	Portal		portal;

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	if (max_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"max_count\" must not be negative")));

	ss_spi_begin(&call);
	ss_session_key_values(&key, args);
	if (ss_exec(Q_SESSION_HEAD, args, NULL, true) == 0)
		ss_report_session_missing(&key);

	args[0] = PointerGetDatum(key.user_id);
	args[1] = Int64GetDatum(ss_result_int64(0, 1, &isnull));
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
