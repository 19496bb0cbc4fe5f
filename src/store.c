/*-------------------------------------------------------------------------
 *
 * store.c
 *	  SPI plumbing: the SQL the extension runs, prepared once per backend,
 *	  and the frame every SQL-callable function runs in.
 *
 * Every statement is fully schema-qualified, operators included, and its
 * parameter types are fixed at prepare time, so no object planted in a
 * schema on the caller's search_path can be picked up.  Plans are prepared
 * on first use and kept (SPI_keepplan) for the life of the backend; the
 * plan cache re-analyzes them if the tables change.
 *
 * What comes back is checked like what goes in: every query whose rows the
 * C code reads declares the table column and type of each result column,
 * and every execution's result is checked against that before a value is
 * read (CheckResult): a column whose type an administrator changed is a
 * clean 42804, never a value read as another type.
 *
 * Every call runs as the owner of the extension (pg_cron's approach), as
 * recorded in pg_extension, in a security-restricted operation: see
 * ss_extension and ss_call_begin.
 *
 * Locking: none here.  The callers take the session lock (lock.c) before
 * their first statement that reads the session; under READ COMMITTED every
 * non-read-only statement takes a fresh snapshot, so what a lock holder
 * committed is visible to the statements that follow the lock wait.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#define SS_SCHEMA "session_store"

/* Shorthand for the WHERE clause naming one session by $1..$3. */
#define SESSION_KEY_QUAL \
	" app_name OPERATOR(pg_catalog.=) $1" \
	" AND user_id OPERATOR(pg_catalog.=) $2" \
	" AND session_id OPERATOR(pg_catalog.=) $3"

/* ... and one session's messages (or keys) by $1 user_id, $2 sid. */
#define MESSAGES_KEY_QUAL \
	" user_id OPERATOR(pg_catalog.=) $1" \
	" AND sid OPERATOR(pg_catalog.=) $2"

#define MAX_QUERY_ARGS 10
#define MAX_RESULT_COLUMNS 8

/*
 * A column of a query's result: the table column it returns, and the type
 * the C code reads it as.  An administrator can change a column's type;
 * the plan cache then re-analyzes the query and the result carries the new
 * type, so every execution is checked against this (see CheckResult).
 */
typedef struct ResultColumn
{
	const char *table;			/* in session_store; NULL ends the list */
	const char *column;
	Oid			type;
} ResultColumn;

typedef struct QueryDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MAX_QUERY_ARGS];
	bool		index_order;	/* must read an index in its order: see ss_exec */
	ResultColumn result[MAX_RESULT_COLUMNS];	/* what the C code reads */
} QueryDef;

#define KEY3 TEXTOID, TEXTOID, TEXTOID

/* Result layouts that several queries share. */
#define RESULT_SID {{"sessions", "sid", INT8OID}}
#define RESULT_MESSAGE_ROW \
	{{"messages", "seq", INT8OID}, {"messages", "message", JSONBOID}, \
	 {"messages", "create_time", TIMESTAMPTZOID}}
#define RESULT_LIST_ROW \
	{{"sessions", "user_id", TEXTOID}, {"sessions", "session_id", TEXTOID}, \
	 {"sessions", "version", INT8OID}, {"sessions", "last_seq", INT8OID}, \
	 {"sessions", "create_time", TIMESTAMPTZOID}, \
	 {"sessions", "update_time", TIMESTAMPTZOID}}
#define RESULT_LIST_STATE_ROW \
	{{"sessions", "user_id", TEXTOID}, {"sessions", "session_id", TEXTOID}, \
	 {"sessions", "version", INT8OID}, {"sessions", "last_seq", INT8OID}, \
	 {"sessions", "create_time", TIMESTAMPTZOID}, \
	 {"sessions", "update_time", TIMESTAMPTZOID}, \
	 {"sessions", "state", JSONBOID}, {"user_states", "state", JSONBOID}}
#define RESULT_SESSION_KEY \
	{{"sessions", "app_name", TEXTOID}, {"sessions", "user_id", TEXTOID}, \
	 {"sessions", "session_id", TEXTOID}}
#define RESULT_HEAD_ROW \
	{{"sessions", "sid", INT8OID}, {"sessions", "version", INT8OID}, \
	 {"sessions", "last_seq", INT8OID}, \
	 {"sessions", "update_time", TIMESTAMPTZOID}, \
	 {"sessions", "state", JSONBOID}}
/* ... and column lists that queries extend (no braces) */
#define IDEM_RESULT_COLUMNS \
	{"idempotency_keys", "first_seq", INT8OID}, \
	{"idempotency_keys", "last_seq", INT8OID}, \
	{"idempotency_keys", "version", INT8OID}, \
	{"idempotency_keys", "update_time", TIMESTAMPTZOID}
#define SESSION_RESULT_COLUMNS \
	{"sessions", "state", JSONBOID}, {"sessions", "version", INT8OID}, \
	{"sessions", "last_seq", INT8OID}, \
	{"sessions", "create_time", TIMESTAMPTZOID}, \
	{"sessions", "update_time", TIMESTAMPTZOID}, \
	{"user_states", "state", JSONBOID}

static const QueryDef query_defs[NUM_QUERIES] = {
	[Q_SESSION_EXISTS] = {
		"SELECT 1 FROM session_store.sessions WHERE" SESSION_KEY_QUAL,
		3, {KEY3}
	},
	[Q_SESSION_INSERT] = {
		"INSERT INTO session_store.sessions"
		" (app_name, user_id, session_id, sid, state, version, last_seq,"
		"  create_time, update_time)"
		" VALUES ($1, $2, $3,"
		" pg_catalog.nextval('session_store.session_sid_seq'::pg_catalog.regclass),"
		" $4, 0, 0, $5, $5)"
		" RETURNING sid",
		5, {KEY3, JSONBOID, TIMESTAMPTZOID},
		.result = RESULT_SID
	},
	/* a new session $4 with the state of session $1..$3 */
	[Q_SESSION_FORK] = {
		"INSERT INTO session_store.sessions"
		" (app_name, user_id, session_id, sid, state, version, last_seq,"
		"  create_time, update_time)"
		" SELECT app_name, user_id, $4,"
		" pg_catalog.nextval('session_store.session_sid_seq'::pg_catalog.regclass),"
		" state, 0, $5, $6, $6"
		" FROM session_store.sessions WHERE" SESSION_KEY_QUAL
		" RETURNING sid",
		6, {KEY3, TEXTOID, INT8OID, TIMESTAMPTZOID},
		.result = RESULT_SID
	},
	[Q_SESSION_READ] = {
		"SELECT s.state, s.version, s.last_seq, s.create_time, s.update_time,"
		"       u.state, a.state"
		" FROM session_store.sessions s"
		" LEFT JOIN session_store.user_states u"
		"   ON u.app_name OPERATOR(pg_catalog.=) s.app_name"
		"  AND u.user_id OPERATOR(pg_catalog.=) s.user_id"
		" LEFT JOIN session_store.app_states a"
		"   ON a.app_name OPERATOR(pg_catalog.=) s.app_name"
		" WHERE s.app_name OPERATOR(pg_catalog.=) $1"
		"   AND s.user_id OPERATOR(pg_catalog.=) $2"
		"   AND s.session_id OPERATOR(pg_catalog.=) $3",
		3, {KEY3},
		.result = {SESSION_RESULT_COLUMNS, {"app_states", "state", JSONBOID}}
	},
	[Q_SESSION_DELETE] = {
		"DELETE FROM session_store.sessions WHERE" SESSION_KEY_QUAL
		" RETURNING sid",
		3, {KEY3},
		.result = RESULT_SID
	},
	[Q_MESSAGE_DELETE_ALL] = {
		"DELETE FROM session_store.messages WHERE" MESSAGES_KEY_QUAL,
		2, {TEXTOID, INT8OID}
	},
	[Q_MESSAGE_DELETE_AFTER] = {
		"DELETE FROM session_store.messages WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.>) $3",
		3, {TEXTOID, INT8OID, INT8OID}
	},
	[Q_MESSAGE_POP] = {
		"DELETE FROM session_store.messages WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(seq)"
		"   FROM session_store.messages WHERE" MESSAGES_KEY_QUAL ")"
		" RETURNING seq, message, create_time",
		2, {TEXTOID, INT8OID},
		.result = RESULT_MESSAGE_ROW
	},
	/* copy messages of ($1, $2) with seq <= $4 to session ($1, $3) */
	[Q_MESSAGE_COPY] = {
		"INSERT INTO session_store.messages"
		" (user_id, sid, seq, message, create_time)"
		" SELECT user_id, $3, seq, message, create_time"
		" FROM session_store.messages WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.<=) $4",
		4, {TEXTOID, INT8OID, INT8OID, INT8OID}
	},
	[Q_MESSAGES_RANGE] = {
		"SELECT seq, message, create_time FROM session_store.messages"
		" WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.>) $3 AND seq OPERATOR(pg_catalog.<) $4"
		" ORDER BY seq",
		4, {TEXTOID, INT8OID, INT8OID, INT8OID},
		.result = RESULT_MESSAGE_ROW
	},
	[Q_MESSAGES_LATEST] = {
		"SELECT seq, message, create_time FROM ("
		" SELECT seq, message, create_time FROM session_store.messages"
		" WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.>) $3 AND seq OPERATOR(pg_catalog.<) $4"
		" ORDER BY seq DESC LIMIT $5) m"
		" ORDER BY seq",
		5, {TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID},
		.result = RESULT_MESSAGE_ROW
	},
	[Q_IDEM_LOOKUP] = {
		"SELECT first_seq, last_seq, version, update_time"
		" FROM session_store.idempotency_keys"
		" WHERE" MESSAGES_KEY_QUAL
		" AND idempotency_key OPERATOR(pg_catalog.=) $3",
		3, {TEXTOID, INT8OID, TEXTOID},
		.result = {IDEM_RESULT_COLUMNS}
	},
	[Q_IDEM_INSERT] = {
		"INSERT INTO session_store.idempotency_keys"
		" (user_id, sid, idempotency_key, first_seq, last_seq, version,"
		"  update_time)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7)",
		7, {TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID,
			TIMESTAMPTZOID}
	},
	[Q_IDEM_DELETE_ALL] = {
		"DELETE FROM session_store.idempotency_keys WHERE" MESSAGES_KEY_QUAL,
		2, {TEXTOID, INT8OID}
	},
	[Q_USER_STATE_UPSERT] = {
		"INSERT INTO session_store.user_states AS t (app_name, user_id, state)"
		" VALUES ($1, $2, $3)"
		" ON CONFLICT (app_name, user_id) DO UPDATE"
		" SET state = (t.state OPERATOR(pg_catalog.-) $4)"
		"             OPERATOR(pg_catalog.||) $3"
		" WHERE pg_catalog.jsonb_typeof(t.state) OPERATOR(pg_catalog.=) 'object'",
		4, {TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID}
	},
	[Q_APP_STATE_UPSERT] = {
		"INSERT INTO session_store.app_states AS t (app_name, state)"
		" VALUES ($1, $2)"
		" ON CONFLICT (app_name) DO UPDATE"
		" SET state = (t.state OPERATOR(pg_catalog.-) $3)"
		"             OPERATOR(pg_catalog.||) $2"
		" WHERE pg_catalog.jsonb_typeof(t.state) OPERATOR(pg_catalog.=) 'object'",
		3, {TEXTOID, JSONBOID, TEXTARRAYOID}
	},
	[Q_USER_STATE_GET] = {
		"SELECT state FROM session_store.user_states"
		" WHERE app_name OPERATOR(pg_catalog.=) $1"
		"   AND user_id OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID},
		.result = {{"user_states", "state", JSONBOID}}
	},
	[Q_APP_STATE_GET] = {
		"SELECT state FROM session_store.app_states"
		" WHERE app_name OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID},
		.result = {{"app_states", "state", JSONBOID}}
	},

	/*
	 * list_sessions, keyset pagination in (update_time DESC, user_id,
	 * session_id) order.  A page after a token is the rows that tie with
	 * the token's update_time and come after it, then the older rows; each
	 * part is one range of sessions_app_recent_idx (or, for one user,
	 * sessions_user_recent_idx), read no further than the page.
	 *
	 * Each listing query has a twin for list_sessions_with_state (1.2) that
	 * returns the same rows in the same order, plus the session's own state
	 * and its user's state: the user's row is joined to each listed row by
	 * its primary key (a nested loop over the page, at most one probe per
	 * row), never read for the app as a whole.  A LATERAL subquery, not
	 * JOIN ... USING: USING compares with whatever "=" the search_path
	 * finds, and the subquery exposes only user_state, so the unqualified
	 * names of the conditions and orders below, which the twins share,
	 * still name the sessions columns.  The join is on the distribution
	 * column (user_id), so a distributed installation runs it on each shard.
	 */
#define LIST_FROM \
	" FROM session_store.sessions WHERE app_name OPERATOR(pg_catalog.=) $1"
#define LIST_COLUMNS \
	"SELECT user_id, session_id, version, last_seq, create_time, update_time" \
	LIST_FROM
#define LIST_STATE_COLUMNS \
	"SELECT user_id, session_id, version, last_seq, create_time, update_time," \
	"       state, u.user_state" \
	" FROM session_store.sessions" \
	" LEFT JOIN LATERAL (SELECT us.state AS user_state" \
	"   FROM session_store.user_states us" \
	"   WHERE us.app_name OPERATOR(pg_catalog.=) sessions.app_name" \
	"     AND us.user_id OPERATOR(pg_catalog.=) sessions.user_id) u ON true" \
	" WHERE app_name OPERATOR(pg_catalog.=) $1"
/* a listing query q and its twin sq: the same tail, arguments and flags */
#define LIST_QUERY(q, sq, tail, nargs, ...) \
	[q] = {LIST_COLUMNS tail, nargs, {__VA_ARGS__}, true, \
		   .result = RESULT_LIST_ROW}, \
	[sq] = {LIST_STATE_COLUMNS tail, nargs, {__VA_ARGS__}, true, \
			.result = RESULT_LIST_STATE_ROW}
	LIST_QUERY(Q_LIST_APP_FIRST, Q_LIST_STATE_APP_FIRST,
			   " ORDER BY update_time DESC, user_id, session_id LIMIT $2",
			   2, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_APP_TIES, Q_LIST_STATE_APP_TIES,
			   " AND update_time OPERATOR(pg_catalog.=) $2"
			   " AND ROW(user_id, session_id) OPERATOR(pg_catalog.>) ROW($3, $4)"
			   " ORDER BY user_id, session_id LIMIT $5",
			   5, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_APP_OLDER, Q_LIST_STATE_APP_OLDER,
			   " AND update_time OPERATOR(pg_catalog.<) $2"
			   " ORDER BY update_time DESC, user_id, session_id LIMIT $3",
			   3, TEXTOID, TIMESTAMPTZOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_FIRST, Q_LIST_STATE_USER_FIRST,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " ORDER BY update_time DESC, session_id LIMIT $3",
			   3, TEXTOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_TIES, Q_LIST_STATE_USER_TIES,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " AND update_time OPERATOR(pg_catalog.=) $3"
			   " AND session_id OPERATOR(pg_catalog.>) $4"
			   " ORDER BY session_id LIMIT $5",
			   5, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_OLDER, Q_LIST_STATE_USER_OLDER,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " AND update_time OPERATOR(pg_catalog.<) $3"
			   " ORDER BY update_time DESC, session_id LIMIT $4",
			   4, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID),

	/*
	 * The ascending listing is the exact reverse of the one above, read by
	 * scanning the same two indexes backwards: update_time ASC, user_id
	 * DESC, session_id DESC.  (update_time ASC, user_id ASC would need a
	 * third index, or a sort of every tie group.)
	 */
	LIST_QUERY(Q_LIST_APP_FIRST_ASC, Q_LIST_STATE_APP_FIRST_ASC,
			   " ORDER BY update_time, user_id DESC, session_id DESC LIMIT $2",
			   2, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_APP_TIES_ASC, Q_LIST_STATE_APP_TIES_ASC,
			   " AND update_time OPERATOR(pg_catalog.=) $2"
			   " AND ROW(user_id, session_id) OPERATOR(pg_catalog.<) ROW($3, $4)"
			   " ORDER BY user_id DESC, session_id DESC LIMIT $5",
			   5, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_APP_NEWER, Q_LIST_STATE_APP_NEWER,
			   " AND update_time OPERATOR(pg_catalog.>) $2"
			   " ORDER BY update_time, user_id DESC, session_id DESC LIMIT $3",
			   3, TEXTOID, TIMESTAMPTZOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_FIRST_ASC, Q_LIST_STATE_USER_FIRST_ASC,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " ORDER BY update_time, session_id DESC LIMIT $3",
			   3, TEXTOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_TIES_ASC, Q_LIST_STATE_USER_TIES_ASC,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " AND update_time OPERATOR(pg_catalog.=) $3"
			   " AND session_id OPERATOR(pg_catalog.<) $4"
			   " ORDER BY session_id DESC LIMIT $5",
			   5, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT4OID),
	LIST_QUERY(Q_LIST_USER_NEWER, Q_LIST_STATE_USER_NEWER,
			   " AND user_id OPERATOR(pg_catalog.=) $2"
			   " AND update_time OPERATOR(pg_catalog.>) $3"
			   " ORDER BY update_time, session_id DESC LIMIT $4",
			   4, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID),

	/*
	 * expire_sessions candidates, oldest first within an app.  Across all
	 * apps, a loose index scan walks the distinct app names (primary key)
	 * and takes each app's idle sessions from its listing index, so a
	 * batch costs O(apps + batch), not O(sessions).
	 */
	[Q_EXPIRE_CANDIDATES_APP] = {
		"SELECT app_name, user_id, session_id FROM session_store.sessions"
		" WHERE app_name OPERATOR(pg_catalog.=) $3"
		"   AND update_time OPERATOR(pg_catalog.<) $1"
		" ORDER BY update_time LIMIT $2",
		3, {TIMESTAMPTZOID, INT4OID, TEXTOID}, true,
		.result = RESULT_SESSION_KEY
	},
	[Q_EXPIRE_CANDIDATES_ALL] = {
		"WITH RECURSIVE apps(app_name) AS ("
		"  (SELECT app_name FROM session_store.sessions"
		"   ORDER BY app_name LIMIT 1)"
		"  UNION ALL"
		"  SELECT (SELECT s.app_name FROM session_store.sessions s"
		"          WHERE s.app_name OPERATOR(pg_catalog.>) a.app_name"
		"          ORDER BY s.app_name LIMIT 1)"
		"  FROM apps a WHERE a.app_name IS NOT NULL)"
		" SELECT c.app_name, c.user_id, c.session_id"
		" FROM apps a CROSS JOIN LATERAL ("
		"   SELECT s.app_name, s.user_id, s.session_id"
		"   FROM session_store.sessions s"
		"   WHERE s.app_name OPERATOR(pg_catalog.=) a.app_name"
		"     AND s.update_time OPERATOR(pg_catalog.<) $1"
		"   ORDER BY s.update_time LIMIT $2) c"
		" WHERE a.app_name IS NOT NULL"
		" LIMIT $2",
		2, {TIMESTAMPTZOID, INT4OID}, true,
		.result = RESULT_SESSION_KEY
	},

	/*
	 * 1.1.  The idempotency key's request digest and removed count are
	 * columns 1.0 does not have: these are used only when the function was
	 * called through its 1.1 declaration.
	 */
	[Q_IDEM_LOOKUP_DIGEST] = {
		"SELECT first_seq, last_seq, version, update_time, request_digest,"
		"       removed"
		" FROM session_store.idempotency_keys"
		" WHERE" MESSAGES_KEY_QUAL
		" AND idempotency_key OPERATOR(pg_catalog.=) $3",
		3, {TEXTOID, INT8OID, TEXTOID},
		.result = {IDEM_RESULT_COLUMNS, {"idempotency_keys", "request_digest", BYTEAOID},
			{"idempotency_keys", "removed", INT8OID}}
	},
	[Q_IDEM_INSERT_DIGEST] = {
		"INSERT INTO session_store.idempotency_keys"
		" (user_id, sid, idempotency_key, first_seq, last_seq, version,"
		"  update_time, request_digest, removed)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		9, {TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID,
			TIMESTAMPTZOID, BYTEAOID, INT8OID}
	},
	/* the latest $3 messages, newest first: a backward primary key range */
	[Q_MESSAGES_TAIL] = {
		"SELECT seq, message FROM session_store.messages"
		" WHERE" MESSAGES_KEY_QUAL
		" ORDER BY seq DESC LIMIT $3",
		3, {TEXTOID, INT8OID, INT8OID}, true,
		.result = {{"messages", "seq", INT8OID}, {"messages", "message", JSONBOID}}
	},
	/* count_sessions: a prefix of the sessions primary key */
	[Q_COUNT_APP] = {
		"SELECT pg_catalog.count(*) FROM session_store.sessions"
		" WHERE app_name OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, true
	},
	[Q_COUNT_USER] = {
		"SELECT pg_catalog.count(*) FROM session_store.sessions"
		" WHERE app_name OPERATOR(pg_catalog.=) $1"
		"   AND user_id OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, true
	},

	/*
	 * 1.2.  A key's operation (NULL for the keys of appends), and what pop,
	 * rewind and clear keep with their keys: used only when the function
	 * was called through its 1.2 declaration, or (append_messages,
	 * replace_messages) when the table has the columns (ss_keys_have_kinds).
	 */
	[Q_IDEM_LOOKUP_DIGEST_OP] = {
		"SELECT first_seq, last_seq, version, update_time, request_digest,"
		"       removed, operation"
		" FROM session_store.idempotency_keys"
		" WHERE" MESSAGES_KEY_QUAL
		" AND idempotency_key OPERATOR(pg_catalog.=) $3",
		3, {TEXTOID, INT8OID, TEXTOID},
		.result = {IDEM_RESULT_COLUMNS, {"idempotency_keys", "request_digest", BYTEAOID},
			{"idempotency_keys", "removed", INT8OID},
			{"idempotency_keys", "operation", TEXTOID}}
	},
	[Q_IDEM_LOOKUP_CALL] = {
		"SELECT operation, version, update_time, removed, first_seq,"
		"       popped_message, popped_time"
		" FROM session_store.idempotency_keys"
		" WHERE" MESSAGES_KEY_QUAL
		" AND idempotency_key OPERATOR(pg_catalog.=) $3",
		3, {TEXTOID, INT8OID, TEXTOID},
		.result = {{"idempotency_keys", "operation", TEXTOID},
			{"idempotency_keys", "version", INT8OID},
			{"idempotency_keys", "update_time", TIMESTAMPTZOID},
			{"idempotency_keys", "removed", INT8OID},
			{"idempotency_keys", "first_seq", INT8OID},
			{"idempotency_keys", "popped_message", JSONBOID},
			{"idempotency_keys", "popped_time", TIMESTAMPTZOID}}
	},
	[Q_IDEM_INSERT_CALL] = {
		"INSERT INTO session_store.idempotency_keys"
		" (user_id, sid, idempotency_key, first_seq, last_seq, version,"
		"  update_time, removed, operation, popped_message, popped_time)"
		" VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)",
		10, {TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID,
			INT8OID, TEXTOID, JSONBOID, TIMESTAMPTZOID}
	},
	/*
	 * Whether session $1..$3 exists and, if it does, whether key $4 is one
	 * of its keys and of which operation.  The key's side is narrowed to
	 * the user by its own column too, so that Citus routes both tables of
	 * the join to one shard.
	 */
	[Q_IDEM_LOOKUP_CREATED] = {
		"SELECT k.idempotency_key IS NOT NULL, k.operation"
		" FROM session_store.sessions s"
		" LEFT JOIN session_store.idempotency_keys k"
		"   ON k.user_id OPERATOR(pg_catalog.=) $2"
		"  AND k.user_id OPERATOR(pg_catalog.=) s.user_id"
		"  AND k.sid OPERATOR(pg_catalog.=) s.sid"
		"  AND k.idempotency_key OPERATOR(pg_catalog.=) $4"
		" WHERE s.app_name OPERATOR(pg_catalog.=) $1"
		"   AND s.user_id OPERATOR(pg_catalog.=) $2"
		"   AND s.session_id OPERATOR(pg_catalog.=) $3",
		4, {KEY3, TEXTOID}
	},

	/*
	 * Distributed mode only (citus.c): the head read, locked and written
	 * through SQL Citus routes to the head's shard; creates that need no
	 * advisory lock; expiry without WITH RECURSIVE.
	 */
#define HEAD_COLUMNS \
	"SELECT sid, version, last_seq, update_time, state" \
	" FROM session_store.sessions WHERE" SESSION_KEY_QUAL
	/*
	 * The session lock: an UPDATE that changes nothing, not SELECT ... FOR
	 * UPDATE.  Citus plans a locking read as a read, which does not pin the
	 * shard's placement: across a shard move, the lock could be taken on
	 * the old placement while the call's writes went to the new one.  A
	 * modification takes Citus's shard metadata lock before it is routed
	 * and keeps it to commit, so every statement of the call reaches the
	 * same placement, and a move waits for the call (or the call for it).
	 */
	[Q_CITUS_HEAD_LOCK] = {
		"UPDATE session_store.sessions SET version = version"
		" WHERE" SESSION_KEY_QUAL
		" RETURNING sid, version, last_seq, update_time, state",
		3, {KEY3},
		.result = RESULT_HEAD_ROW
	},
	/* Q_SESSION_READ without the app's state, which lives on its own shard */
	[Q_CITUS_SESSION_READ] = {
		"SELECT s.state, s.version, s.last_seq, s.create_time, s.update_time,"
		"       u.state"
		" FROM session_store.sessions s"
		" LEFT JOIN session_store.user_states u"
		"   ON u.app_name OPERATOR(pg_catalog.=) s.app_name"
		"  AND u.user_id OPERATOR(pg_catalog.=) s.user_id"
		" WHERE s.app_name OPERATOR(pg_catalog.=) $1"
		"   AND s.user_id OPERATOR(pg_catalog.=) $2"
		"   AND s.session_id OPERATOR(pg_catalog.=) $3",
		3, {KEY3},
		.result = {SESSION_RESULT_COLUMNS}
	},
	[Q_CITUS_HEAD_READ] = {
		HEAD_COLUMNS,
		3, {KEY3},
		.result = RESULT_HEAD_ROW
	},
	[Q_CITUS_HEAD_UPDATE] = {
		"UPDATE session_store.sessions"
		" SET version = $4, last_seq = $5, update_time = $6, state = $7"
		" WHERE" SESSION_KEY_QUAL,
		7, {KEY3, INT8OID, INT8OID, TIMESTAMPTZOID, JSONBOID}
	},
	[Q_CITUS_MESSAGE_INSERT] = {
		"INSERT INTO session_store.messages"
		" (user_id, sid, seq, message, create_time)"
		" VALUES ($1, $2, $3, $4, $5)",
		5, {TEXTOID, INT8OID, INT8OID, JSONBOID, TIMESTAMPTZOID}
	},
	/* a batch: message i of the array $4 gets seq $3 + i - 1 */
	[Q_CITUS_MESSAGES_INSERT] = {
		"INSERT INTO session_store.messages"
		" (user_id, sid, seq, message, create_time)"
		" SELECT $1, $2, $3 OPERATOR(pg_catalog.+) (u.o OPERATOR(pg_catalog.-) 1), u.m, $5"
		" FROM pg_catalog.unnest($4) WITH ORDINALITY AS u(m, o)",
		5, {TEXTOID, INT8OID, INT8OID, JSONBARRAYOID, TIMESTAMPTZOID}
	},
	/* $4 sid, $5 state, $6 last_seq, $7 create/update time */
#define CITUS_SESSION_INSERT \
	"INSERT INTO session_store.sessions" \
	" (app_name, user_id, session_id, sid, state, version, last_seq," \
	"  create_time, update_time)" \
	" VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7)"
	[Q_CITUS_SESSION_INSERT] = {
		CITUS_SESSION_INSERT " ON CONFLICT DO NOTHING RETURNING sid",
		7, {KEY3, INT8OID, JSONBOID, INT8OID, TIMESTAMPTZOID},
		.result = RESULT_SID
	},
	[Q_CITUS_SESSION_INSERT_STRICT] = {
		CITUS_SESSION_INSERT " RETURNING sid",
		7, {KEY3, INT8OID, JSONBOID, INT8OID, TIMESTAMPTZOID},
		.result = RESULT_SID
	},
	/* the app names, in order: one min() per shard, merged by Citus */
	[Q_CITUS_FIRST_APP] = {
		"SELECT pg_catalog.min(app_name) FROM session_store.sessions",
		0, {InvalidOid},
		.result = {{"sessions", "app_name", TEXTOID}}
	},
	[Q_CITUS_NEXT_APP] = {
		"SELECT pg_catalog.min(app_name) FROM session_store.sessions"
		" WHERE app_name OPERATOR(pg_catalog.>) $1",
		1, {TEXTOID},
		.result = {{"sessions", "app_name", TEXTOID}}
	},
	/*
	 * Delete an expiry candidate's head if it is still idle and nobody
	 * holds it (SKIP LOCKED); one modification, for the reason above.
	 */
	[Q_CITUS_EXPIRE_DELETE] = {
		"DELETE FROM session_store.sessions WHERE" SESSION_KEY_QUAL
		" AND update_time OPERATOR(pg_catalog.<) $4"
		" AND sid OPERATOR(pg_catalog.=) ("
		"   SELECT sid FROM session_store.sessions WHERE" SESSION_KEY_QUAL
		"   AND update_time OPERATOR(pg_catalog.<) $4"
		"   FOR UPDATE SKIP LOCKED)"
		" RETURNING sid",
		4, {KEY3, TIMESTAMPTZOID},
		.result = RESULT_SID
	},
	/* get_messages' after_time, a page at a time from the newest back */
	[Q_CITUS_MESSAGES_BACK] = {
		"SELECT seq, message, create_time FROM session_store.messages"
		" WHERE" MESSAGES_KEY_QUAL
		" AND seq OPERATOR(pg_catalog.>) $3 AND seq OPERATOR(pg_catalog.<) $4"
		" ORDER BY seq DESC LIMIT $5",
		5, {TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID},
		.result = RESULT_MESSAGE_ROW
	},

#ifdef SESSION_STORE_TEST_NO_UPSERT
	/* test-only build: the update-else-insert that ON CONFLICT replaces */
	[Q_USER_STATE_UPDATE] = {
		"UPDATE session_store.user_states"
		" SET state = (state OPERATOR(pg_catalog.-) $4) OPERATOR(pg_catalog.||) $3"
		" WHERE app_name OPERATOR(pg_catalog.=) $1"
		"   AND user_id OPERATOR(pg_catalog.=) $2",
		4, {TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID}
	},
	[Q_APP_STATE_UPDATE] = {
		"UPDATE session_store.app_states"
		" SET state = (state OPERATOR(pg_catalog.-) $3) OPERATOR(pg_catalog.||) $2"
		" WHERE app_name OPERATOR(pg_catalog.=) $1",
		3, {TEXTOID, JSONBOID, TEXTARRAYOID}
	},
	[Q_USER_STATE_INSERT] = {
		"INSERT INTO session_store.user_states (app_name, user_id, state)"
		" VALUES ($1, $2, $3)",
		4, {TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID}
	},
	[Q_APP_STATE_INSERT] = {
		"INSERT INTO session_store.app_states (app_name, state) VALUES ($1, $2)",
		3, {TEXTOID, JSONBOID, TEXTARRAYOID}
	},
#endif
};

/*
 * Plans kept for the life of the backend, prepared on first use: one set
 * for a single node, one for distributed mode (citus.c).
 */
static SPIPlanPtr plans[NUM_QUERIES];
static SPIPlanPtr citus_plans[NUM_QUERIES];

static void CheckResult(SsQuery q, TupleDesc desc);

/* Prepare (once) and return the plan of query q; SPI must be connected. */
static SPIPlanPtr
ss_plan(SsQuery q)
{
	SPIPlanPtr *slot = ss_in_citus_mode ? &citus_plans[q] : &plans[q];

	if (query_defs[q].sql == NULL)
		elog(ERROR, "session_store query %d is not defined", (int) q);
	if (*slot == NULL)
	{
		const QueryDef *def = &query_defs[q];
		SPIPlanPtr	plan;

		/*
		 * On a single node, generic plans from the start: every query is a
		 * key lookup or an index range, so per-call replanning would buy
		 * nothing.  Distributed, custom plans: Citus routes a statement by
		 * the value of its distribution column, which a generic plan hides
		 * behind a parameter (and cannot plan at all for a join).
		 */
		plan = SPI_prepare_cursor(def->sql, def->nargs,
								  (Oid *) def->argtypes,
								  ss_in_citus_mode ? CURSOR_OPT_CUSTOM_PLAN :
								  CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 def->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/*
 * The extension, as pg_extension records it: its OID, its schema and its
 * owner, the role every call runs as.  Looked up once per backend and
 * forgotten whenever pg_namespace changes (ALTER SCHEMA ... OWNER or
 * RENAME, the schema dropped) or a relcache entry of the extension's tables
 * is invalidated (the extension dropped and created again: the schema may
 * outlive it).
 *
 * The schema is the extension's, by OID; the SQL below names it
 * "session_store", so that name must lead to the same schema, and the
 * schema must belong to the extension's owner: a schema owned by another
 * role lets that role rename it, plant look-alike tables in it, or change
 * what the names resolve to.  When either does not hold every call is
 * refused.
 */
static SsExtension cached_ext;

static void
ForgetExtension(Datum arg, int cacheid, uint32 hashvalue)
{
	cached_ext.valid = false;
}

/*
 * Any invalidation of one of the tables (the extension dropped: its tables
 * go with it, even when its schema stays) or of every relation.
 */
static void
ForgetExtensionTables(Datum arg, Oid relid)
{
	for (int i = 0; i < SS_NUM_TABLES; i++)
		if (!OidIsValid(relid) || relid == cached_ext.tables[i])
			cached_ext.valid = false;
}

static const char *const table_names[SS_NUM_TABLES] = {
	[SS_SESSIONS] = "sessions",
	[SS_MESSAGES] = "messages",
	[SS_IDEM_KEYS] = "idempotency_keys",
};

const SsExtension *
ss_extension(void)
{
	static bool callback_registered = false;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	SsExtension ext = {0};
	Oid			named;
	Oid			nspowner;

	if (cached_ext.valid)
		return &cached_ext;
	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, ForgetExtension, (Datum) 0);
		CacheRegisterRelcacheCallback(ForgetExtensionTables, (Datum) 0);
		callback_registered = true;
	}

	ext.extoid = get_extension_oid(SS_SCHEMA, true);
	if (!OidIsValid(ext.extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"session_store\" is not installed in this database")));

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext.extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find tuple for extension %u", ext.extoid);
	ext.nspoid = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	ext.owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(ext.nspoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", ext.nspoid);
	nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);

	named = get_namespace_oid(SS_SCHEMA, true);
	if (named != ext.nspoid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" is not the schema of extension \"session_store\"",
						SS_SCHEMA),
				 errdetail("The extension's schema has been renamed; its SQL names the schema \"%s\".",
						   SS_SCHEMA),
				 errhint("Rename the extension's schema back to \"%s\".", SS_SCHEMA)));
	if (nspowner != ext.owner)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" is owned by role \"%s\", not by the owner of extension \"session_store\"",
						SS_SCHEMA, GetUserNameFromId(nspowner, true) ? GetUserNameFromId(nspowner, true) : "?"),
				 errdetail("A schema owned by another role lets that role change the objects the extension uses."),
				 errhint("ALTER SCHEMA %s OWNER TO %s.", SS_SCHEMA,
						 GetUserNameFromId(ext.owner, true) ? quote_identifier(GetUserNameFromId(ext.owner, true)) : "the extension owner")));

	for (int i = 0; i < SS_NUM_TABLES; i++)
	{
		Oid			relid = get_relname_relid(table_names[i], ext.nspoid);

		if (!OidIsValid(relid) ||
			getExtensionOfObject(RelationRelationId, relid) != ext.extoid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s.%s is not a member of extension \"session_store\"",
							SS_SCHEMA, table_names[i])));
		ext.tables[i] = relid;
	}

	ext.valid = true;
	cached_ext = ext;
	return &cached_ext;
}

/*
 * Open the per-call memory context and switch into it, and run as the
 * extension's owner until ss_call_end, in a security-restricted operation:
 * the caller needs EXECUTE on the function, never a privilege on the
 * tables, and nothing the owner's code runs on the way (triggers, index
 * expressions, constraints) can change the session's identity or settings
 * beyond the call.  Errors restore the caller's identity through
 * (sub)transaction abort.
 */
void
ss_call_begin(SsCall *call)
{
	const SsExtension *ext = ss_extension();

	/* the storage path of the whole call (citus.c) */
	ss_in_citus_mode = ss_citus_mode();
	call->oldcxt = CurrentMemoryContext;
	call->callcxt = AllocSetContextCreate(CurrentMemoryContext,
										  "session_store call",
										  ALLOCSET_SMALL_SIZES);
	call->connected = false;
	call->estate = NULL;
	memset(call->tables, 0, sizeof(call->tables));
	GetUserIdAndSecContext(&call->save_userid, &call->save_sec_context);
	SetUserIdAndSecContext(ext->owner,
						   call->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	MemoryContextSwitchTo(call->callcxt);
}

/*
 * Finish the call's writes (queued AFTER triggers fire here, still as the
 * owner), close its tables, become the caller again, leave the call's
 * context and free its memory.
 */
void
ss_call_end(SsCall *call)
{
	Assert(!call->connected);
	ss_writes_end(call);
	for (int i = 0; i < SS_NUM_TABLES; i++)
		ss_table_close(&call->tables[i]);
	SetUserIdAndSecContext(call->save_userid, call->save_sec_context);
	MemoryContextSwitchTo(call->oldcxt);
	MemoryContextDelete(call->callcxt);
}

/*
 * Connect SPI, unless the call is connected already (distributed mode
 * connects at the session lock); the call already runs as the extension
 * owner.
 */
void
ss_spi_begin(SsCall *call)
{
	if (call->connected)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	call->connected = true;
}

/* Disconnect SPI; back in the call context. */
void
ss_spi_end(SsCall *call)
{
	Assert(call->connected);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	call->connected = false;
	MemoryContextSwitchTo(call->callcxt);
}

/*
 * Run query q; returns the number of rows processed.
 *
 * The queries marked index_order (listing, expiry) read a page of rows off
 * an index in its order and stop.  A generic plan cannot see the LIMIT, and
 * without fresh statistics the planner can misjudge how many rows a key
 * matches; either can make a full scan or a bitmap scan plus a sort look
 * cheaper, and that costs O(table) instead of O(page).  So these are
 * planned and run with seq scans, bitmap scans and sorts disabled, which
 * leaves the ordered index scan as the only reasonable path at any table
 * size.  The settings last for this execution only (a GUC nest level, also
 * unwound if the query fails), and cover any replanning the plan cache does
 * inside it.
 */
int
ss_exec(SsQuery q, Datum *values, const char *nulls, bool read_only)
{
	int			rc;
	int			nestlevel = -1;

	if (query_defs[q].index_order)
	{
		static const char *const off[] = {
			"enable_seqscan", "enable_bitmapscan", "enable_sort"
		};

		nestlevel = NewGUCNestLevel();
		for (int i = 0; i < lengthof(off); i++)
			(void) set_config_option(off[i], "off", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	}
	rc = SPI_execute_plan(ss_plan(q), values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	if (SPI_tuptable != NULL)
		CheckResult(q, SPI_tuptable->tupdesc);
	return (int) SPI_processed;
}

/* Open a read-only cursor on query q, for results too big to hold at once. */
Portal
ss_open_cursor(SsQuery q, Datum *values, const char *nulls)
{
	Portal		portal = SPI_cursor_open(NULL, ss_plan(q), values, nulls, true);

	CheckResult(q, portal->tupDesc);
	return portal;
}

/*
 * Run query q on a snapshot taken now, whatever the isolation level: for
 * checks whose answer must include everything committed so far, such as
 * whether a session id is already taken.
 */
int
ss_exec_latest(SsQuery q, Datum *values, const char *nulls)
{
	int			rc;

	rc = SPI_execute_snapshot(ss_plan(q), values, nulls,
							  GetLatestSnapshot(), InvalidSnapshot,
							  false, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_snapshot failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_tuptable != NULL)
		CheckResult(q, SPI_tuptable->tupdesc);
	return (int) SPI_processed;
}

/* Fill values[0..2] with the three names of a session. */
void
ss_session_key_values(const SessionKey *key, Datum *values)
{
	values[0] = PointerGetDatum(key->app_name);
	values[1] = PointerGetDatum(key->user_id);
	values[2] = PointerGetDatum(key->session_id);
}

/* Column col (1-based) of row of the last result, copied to call memory. */
Datum
ss_result_datum(SsCall *call, int row, int col, bool *isnull)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	Form_pg_attribute att = TupleDescAttr(desc, col - 1);
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], desc, col, isnull);
	MemoryContext old;

	if (*isnull || att->attbyval)
		return d;
	/* detoast varlenas too: the result must not depend on SPI's memory */
	old = MemoryContextSwitchTo(call->callcxt);
	if (att->attlen == -1)
		d = PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(d)));
	else
		d = datumCopy(d, false, att->attlen);
	MemoryContextSwitchTo(old);
	return d;
}

/*
 * 42804 unless column col (1-based) of a result with descriptor desc is of
 * type type: a column of the extension's tables whose type was changed
 * must be a clean error, never a value read as another type.
 */
static void
CheckColumnType(TupleDesc desc, int col, Oid type, const char *table,
				const char *column)
{
	Oid			found = col <= desc->natts ?
		TupleDescAttr(desc, col - 1)->atttypid : InvalidOid;

	if (found != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table session_store.%s is of type %s, not %s",
						column, table, format_type_be(found), format_type_be(type)),
				 errhint("Change the column back to type %s.", format_type_be(type))));
}

/* The same for column col of the last SPI result. */
void
ss_check_result_type(int col, Oid type, const char *table, const char *column)
{
	CheckColumnType(SPI_tuptable->tupdesc, col, type, table, column);
}

/*
 * A result of query q, as its declared layout says the C code reads it:
 * checked on every execution (a few OID comparisons), since the plan cache
 * replans a kept plan after ALTER TABLE and its result then has the
 * column's new type.
 */
static void
CheckResult(SsQuery q, TupleDesc desc)
{
	const ResultColumn *cols = query_defs[q].result;
	int			c;

	for (c = 0; c < MAX_RESULT_COLUMNS && cols[c].table != NULL; c++)
		CheckColumnType(desc, c + 1, cols[c].type, cols[c].table,
						cols[c].column);
	/*
	 * A declared layout covers the whole result: a column it leaves out
	 * would be read back unchecked.  Checked in every build, not only with
	 * assertions: a layout missing an entry is a defect of the extension.
	 */
	if (c != 0 && c != desc->natts)
		elog(ERROR, "query %d returns %d columns but declares the types of %d",
			 (int) q, desc->natts, c);
}

/*
 * 09000 for an INSERT of the extension's that stored no row: a BEFORE
 * INSERT trigger an administrator added returned NULL.  The call would
 * otherwise report a session, a key or a message it did not store.
 */
void
ss_report_skipped_insert(const char *table, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
			 errmsg("a trigger on session_store.%s skipped the insert of %s",
					table, what),
			 errdetail("Triggers on session_store.%s must not cancel the extension's inserts.",
					   table)));
}

/* XX001 for a NULL read back from a column the extension never leaves NULL. */
void
ss_report_null_column(const char *table, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("session_store.%s holds a NULL %s", table, column),
			 errdetail("The extension never stores a NULL in this column; the row was written around it.")));
}

/* An int8 column of the last result. */
int64
ss_result_int64(int row, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row],
								  SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* The 42704 every function but get/delete/create raises for a missing session. */
void
ss_report_session_missing(const SessionKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("session \"%s\" does not exist",
					text_to_cstring(key->session_id)),
			 errdetail("App \"%s\", user \"%s\".",
					   text_to_cstring(key->app_name),
					   text_to_cstring(key->user_id))));
}
