/*-------------------------------------------------------------------------
 *
 * append.c
 *	  append_messages: messages, a state delta, an optimistic version check
 *	  and an idempotency key, as one atomic call.
 *
 * Order of work, and why:
 *
 *	1. Validate every argument and route the delta; nothing is locked yet.
 *	2. Take the session lock and read the session head (head.c).  Under
 *	   READ COMMITTED the read runs on a snapshot taken after the lock was
 *	   granted, so it sees whatever the previous holder committed, and no
 *	   one can change the head until we commit: last_seq + 1 .. last_seq + n
 *	   are ours.
 *	3. A known idempotency key returns the stored result, writing nothing.
 *	4. expected_version is compared with the head's version (40001).
 *	5. The head is advanced BEFORE any message is inserted.  Under
 *	   REPEATABLE READ or SERIALIZABLE our snapshot may predate the last
 *	   holder's commit; the UPDATE then fails with 40001 ("could not
 *	   serialize access due to concurrent update") before a stale last_seq
 *	   could ever produce a duplicate sequence number (23505).
 *	6. Messages, then the user's and the app's state (lock order), then the
 *	   idempotency key are written.
 *
 * The head and the messages go through direct.c; SPI is connected only for
 * an idempotency key or a delta that names app: or user: keys.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "funcapi.h"
#include "utils/builtins.h"

/* Columns of append_messages' result. */
enum
{
	AR_FIRST_SEQ,
	AR_LAST_SEQ,
	AR_VERSION,
	AR_UPDATE_TIME,
	AR_REPLAYED,
	AR_NATTS
};

/* SQL-callable functions */

PG_FUNCTION_INFO_V1(session_store_append_messages);

/*
 * append_messages(app_name, user_id, session_id, messages, state_delta,
 *				   expected_version, idempotency_key)
 *	→ TABLE(first_seq, last_seq, version, update_time, replayed)
 */
Datum
session_store_append_messages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SsCall		call;
	SessionKey	key;
	Jsonb	   *messages;
	int			nmessages;
	StateDelta	delta;
	text	   *idem_key;
	Datum	   *prepared;
	SessionHead head;
	int64		last_seq;
	Datum		args[7];
	char		argnulls[7];
	Datum		result[AR_NATTS];
	bool		result_nulls[AR_NATTS] = {false};

	InitMaterializedSRF(fcinfo, 0);
	ss_call_begin(&call);
	ss_arg_session_key(fcinfo, &key);
	messages = ss_arg_messages(fcinfo, 3, &nmessages);
	ss_route_delta(ss_arg_object_or_null(fcinfo, 4, "state_delta"), &delta);
	idem_key = ss_arg_id_or_null(fcinfo, 6, "idempotency_key");

	/* everything that does not need the session lock comes first */
	prepared = ss_prepare_messages(messages, nmessages);
	if (nmessages > 0)
		(void) ss_table(&call, SS_MESSAGES, true);

	ss_lock_head(&call, &key, &head);
	last_seq = head.last_seq;

	if (idem_key != NULL)
	{
		ss_spi_begin(&call);
		args[0] = PointerGetDatum(key.user_id);
		args[1] = Int64GetDatum(head.sid);
		args[2] = PointerGetDatum(idem_key);
		if (ss_exec(Q_IDEM_LOOKUP, args, NULL, false) > 0)
		{
			for (int i = 0; i < 4; i++)
				result[i] = ss_result_datum(&call, 0, i + 1, &result_nulls[i]);
			result[AR_REPLAYED] = BoolGetDatum(true);
			goto done;
		}
	}

	ss_check_version(fcinfo, 5, &key, &head);
	ss_advance_head(&call, &head, ss_seq_after(&key, last_seq, nmessages), &delta);
	if (nmessages > 0)
	{
		ss_insert_messages(ss_table(&call, SS_MESSAGES, true), key.user_id,
						   head.sid, last_seq + 1, prepared, nmessages,
						   head.update_time);
		result[AR_FIRST_SEQ] = Int64GetDatum(last_seq + 1);
		result[AR_LAST_SEQ] = Int64GetDatum(last_seq + nmessages);
	}
	else
		result_nulls[AR_FIRST_SEQ] = result_nulls[AR_LAST_SEQ] = true;
	result[AR_VERSION] = Int64GetDatum(head.version);
	result[AR_UPDATE_TIME] = TimestampTzGetDatum(head.update_time);
	result[AR_REPLAYED] = BoolGetDatum(false);

	if (delta.touches[SCOPE_USER] || delta.touches[SCOPE_APP] || idem_key != NULL)
	{
		if (!call.connected)
			ss_spi_begin(&call);
		ss_apply_shared_deltas(&key, &delta);
	}

	if (idem_key != NULL)
	{
		args[0] = PointerGetDatum(key.user_id);
		args[1] = Int64GetDatum(head.sid);
		args[2] = PointerGetDatum(idem_key);
		memset(argnulls, ' ', sizeof(argnulls));
		for (int i = 0; i < 4; i++)
		{
			args[3 + i] = result[i];
			argnulls[3 + i] = result_nulls[i] ? 'n' : ' ';
		}
		ss_exec(Q_IDEM_INSERT, args, argnulls, false);
	}

done:
	if (call.connected)
		ss_spi_end(&call);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, result_nulls);
	ss_call_end(&call);
	return (Datum) 0;
}
