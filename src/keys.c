/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  Idempotency keys of the calls other than appends (1.2): create_session,
 *	  fork_session, pop_message, rewind_session and clear_session.
 *
 * A key belongs to one session (session_store.idempotency_keys is keyed by
 * user_id, sid and the key) and lives as long as it: delete_session and
 * expire_sessions remove a session's keys with its messages.  A call that
 * finds its key among the session's keys writes nothing and returns what
 * the call that stored the key returned, whatever expected_version says
 * now.  The column operation records which kind of call stored a key: NULL
 * for append_messages and replace_messages (every key 1.0 and 1.1 stored),
 * otherwise the function's name.  A key found with another operation is
 * refused (42710), never replayed as a result of another shape.
 *
 * pop, rewind and clear look their key up and store it under the session
 * lock (head.c), so a retry that waited on the lock finds the key its first
 * attempt committed: under READ COMMITTED each SPI statement takes a new
 * snapshot.  create and fork record the key on the session they create,
 * under that session's lock (session.c).
 *
 * The columns exist from 1.2 on.  The five functions read their key
 * argument only when they were called through their 1.2 declaration (the
 * database is then at 1.2); append_messages and replace_messages keep their
 * signatures: on a single node they read and store their keys through
 * direct.c, which finds operation among the table's columns; distributed,
 * they ask ss_keys_have_kinds() before they read it.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The function names operation holds, by kind. */
static const char *const kind_names[] = {
	[KEY_APPEND] = "append_messages or replace_messages",
	[KEY_CREATE] = "create_session",
	[KEY_FORK] = "fork_session",
	[KEY_POP] = "pop_message",
	[KEY_REWIND] = "rewind_session",
	[KEY_CLEAR] = "clear_session",
};

/*
 * The idempotency_key argument argno: NULL when it is NULL or when the
 * function was called through a declaration that does not have it.
 */
text *
ss_arg_key(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno)
		return NULL;
	return ss_arg_id_or_null(fcinfo, argno, "idempotency_key");
}

/*
 * Whether session_store.idempotency_keys has 1.2's operation column: for
 * append_messages and replace_messages, whose declarations do not say
 * whether the database is at 1.1 or 1.2.  Two syscache lookups, only for
 * calls with a key.
 */
bool
ss_keys_have_kinds(void)
{
	Oid			relid = get_relname_relid("idempotency_keys",
										  ss_extension()->nspoid);

	return OidIsValid(relid) &&
		get_attnum(relid, "operation") != InvalidAttrNumber;
}

/* The kind of a stored key, from its operation column (NULL: an append's). */
SsKeyKind
ss_key_kind(text *operation)
{
	char	   *name;

	if (operation == NULL)
		return KEY_APPEND;
	name = text_to_cstring(operation);
	for (int i = KEY_APPEND + 1; i < lengthof(kind_names); i++)
		if (strcmp(name, kind_names[i]) == 0)
			return (SsKeyKind) i;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("session_store.idempotency_keys holds an unknown operation \"%s\"",
					name)));
	return KEY_APPEND;			/* keep the compiler quiet */
}

/* 42710: idem_key was stored by a call of kind used, not of kind now. */
void
ss_report_key_kind(const SessionKey *key, text *idem_key, SsKeyKind used,
				   SsKeyKind now)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("idempotency key \"%s\" was already used by %s",
					text_to_cstring(idem_key), kind_names[used]),
			 errdetail("Session \"%s\" of app \"%s\", user \"%s\"; this call is %s.",
					   text_to_cstring(key->session_id),
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id), kind_names[now]),
			 errhint("Use a new idempotency key for a different request.")));
}

/* A column of the last result that must not be NULL. */
static Datum
KeyColumn(SsCall *call, int col, const char *name)
{
	bool		isnull;
	Datum		d = ss_result_datum(call, 0, col, &isnull);

	if (isnull)
		ss_report_null_column("idempotency_keys", name);
	return d;
}

/*
 * Look up idem_key of session (user_id, sid) for a call of kind kind; true
 * and what the call that stored it returned in *stored if it was used, 42710
 * if it was used by another kind of call.  Pop's, rewind's and clear's keys
 * only: the caller holds the session lock, SPI is connected.
 */
bool
ss_lookup_call_key(SsCall *call, const SessionKey *key, int64 sid,
				   text *idem_key, SsKeyKind kind, SsKeyResult *stored)
{
	Datum		args[3];
	bool		isnull;
	Datum		op;
	SsKeyKind	used;

	args[0] = PointerGetDatum(key->user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = PointerGetDatum(idem_key);
	if (ss_exec(Q_IDEM_LOOKUP_CALL, args, NULL, false) == 0)
	{
		ss_check_key_committed_since(Q_IDEM_LOOKUP_CALL, key, idem_key, args);
		return false;
	}
	op = ss_result_datum(call, 0, 1, &isnull);
	used = ss_key_kind(isnull ? NULL : DatumGetTextPP(op));
	if (used != kind)
		ss_report_key_kind(key, idem_key, used, kind);

	memset(stored, 0, sizeof(*stored));
	stored->version = DatumGetInt64(KeyColumn(call, 2, "version"));
	stored->update_time = DatumGetTimestampTz(KeyColumn(call, 3, "update_time"));
	if (kind == KEY_REWIND || kind == KEY_CLEAR)
		stored->removed = DatumGetInt64(KeyColumn(call, 4, "removed"));
	if (kind == KEY_POP)
	{
		stored->popped_seq = ss_result_int64(0, 5, &isnull);
		stored->popped = !isnull;
		if (stored->popped)
		{
			stored->popped_message = KeyColumn(call, 6, "popped_message");
			stored->popped_time =
				DatumGetTimestampTz(KeyColumn(call, 7, "popped_time"));
		}
	}
	return true;
}

/*
 * Under REPEATABLE READ or SERIALIZABLE, a key lookup q (arguments args)
 * that missed on the transaction's snapshot: 40001 if the key was stored by
 * a call that committed after that snapshot was taken.  A pop, rewind or
 * clear that removed nothing stores its key without advancing the session,
 * so no head update stops the retry, and inserting the key again would be a
 * 23505.  Single node only: distributed, the lookup has no fresher snapshot
 * to take (the statement's is the transaction's).
 */
void
ss_check_key_committed_since(SsQuery q, const SessionKey *key, text *idem_key,
							 Datum *args)
{
	if (!IsolationUsesXactSnapshot() || ss_in_citus_mode)
		return;
	if (ss_exec_latest(q, args, NULL) > 0)
		ss_report_key_committed_since(key, idem_key);
}

/* The 40001 of ss_check_key_committed_since. */
void
ss_report_key_committed_since(const SessionKey *key, text *idem_key)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update"),
			 errdetail("Idempotency key \"%s\" of session \"%s\" of app \"%s\", user \"%s\" was stored by a call that committed after this transaction's snapshot was taken.",
					   text_to_cstring(idem_key),
					   text_to_cstring(key->session_id),
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id)),
			 errhint("Retry the transaction.")));
}

/*
 * Record idem_key on session (user_id, sid) with the result of a call of
 * kind kind.  SPI must be connected.
 */
void
ss_store_call_key(const SessionKey *key, int64 sid, text *idem_key,
				  SsKeyKind kind, const SsKeyResult *res)
{
	Datum		args[10];
	char		argnulls[10];

	Assert(kind != KEY_APPEND);
	memset(argnulls, 'n', sizeof(argnulls));
	args[0] = PointerGetDatum(key->user_id);
	args[1] = Int64GetDatum(sid);
	args[2] = PointerGetDatum(idem_key);
	args[4] = Int64GetDatum(res->version);
	args[5] = TimestampTzGetDatum(res->update_time);
	args[7] = CStringGetTextDatum(kind_names[kind]);
	argnulls[0] = argnulls[1] = argnulls[2] = ' ';
	argnulls[4] = argnulls[5] = argnulls[7] = ' ';
	if (kind == KEY_REWIND || kind == KEY_CLEAR)
	{
		args[6] = Int64GetDatum(res->removed);
		argnulls[6] = ' ';
	}
	if (kind == KEY_POP && res->popped)
	{
		args[3] = Int64GetDatum(res->popped_seq);
		args[8] = res->popped_message;
		args[9] = TimestampTzGetDatum(res->popped_time);
		argnulls[3] = argnulls[8] = argnulls[9] = ' ';
	}
	if (ss_exec(Q_IDEM_INSERT_CALL, args, argnulls, false) != 1)
		ss_report_skipped_insert("idempotency_keys", "an idempotency key");
}
