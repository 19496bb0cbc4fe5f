/*-------------------------------------------------------------------------
 *
 * session_store.h
 *	  Declarations shared by the session_store C sources.
 *
 * Layout of the module:
 *	  validate.c  argument checks (NULLs, id lengths, JSON shapes, limits)
 *	  state.c     state-delta routing (app:/user:/temp:) and the merged view
 *	  citus.c     distributed mode: which path a call takes, the planner guard
 *	  lock.c      the per-session advisory lock, in the extension's own space
 *	  store.c     SPI plumbing: prepared plans, owner switch, per-call memory
 *	  direct.c    the hot path's table access, through the executor's
 *	              plan-free table-modification layer, without SPI
 *	  head.c      the session head: lock, read, version check, advance
 *	  session.c   create/get/delete/fork session, app and user state
 *	  append.c    append_messages, replace_messages, request digests
 *	  messages.c  get_messages, pop_message, rewind_session, clear_session
 *	  keys.c      1.2's idempotency keys of the calls other than appends
 *	  listing.c   list_sessions (and 1.2's list_sessions_with_state) and
 *	              their page tokens, count_sessions
 *	  expire.c    expire_sessions
 *
 *-------------------------------------------------------------------------
 */
#ifndef SESSION_STORE_H
#define SESSION_STORE_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "compat.h"

/* Every identifier (app_name, user_id, session_id) is 1..128 bytes. */
#define SS_MAX_ID_BYTES 128

/* Fixed bounds of list_sessions' page_size and expire_sessions' batch. */
#define SS_MAX_PAGE_SIZE 10000
#define SS_MAX_EXPIRE_BATCH 10000

/* session_store.c: limits, as GUCs */
extern int	ss_max_message_size;
extern int	ss_max_batch_messages;

/* The three names of a session, validated. */
typedef struct SessionKey
{
	text	   *app_name;
	text	   *user_id;
	text	   *session_id;
} SessionKey;

/* validate.c */
extern text *ss_arg_id(FunctionCallInfo fcinfo, int argno, const char *argname);
extern text *ss_arg_id_or_null(FunctionCallInfo fcinfo, int argno,
							   const char *argname);
extern void ss_arg_session_key(FunctionCallInfo fcinfo, SessionKey *key);
extern Jsonb *ss_arg_object_or_null(FunctionCallInfo fcinfo, int argno,
									const char *argname);
extern Jsonb *ss_arg_messages(FunctionCallInfo fcinfo, int argno,
							  int *nmessages);
extern Jsonb *ss_arg_message_array(FunctionCallInfo fcinfo, int argno,
								   const char *argname, int *nmessages);
extern bool ss_arg_bool(FunctionCallInfo fcinfo, int argno,
						const char *argname, bool dflt);
extern void ss_require_arg(FunctionCallInfo fcinfo, int argno,
						   const char *argname);

/* state.c */
typedef enum StateScope
{
	SCOPE_SESSION = 0,
	SCOPE_USER,
	SCOPE_APP,
	NUM_SCOPES
} StateScope;

/*
 * A state delta split by scope.  For each scope that the delta touches,
 * "set" holds the keys to store (prefix stripped; a JSON null only when
 * nulls are kept) and "remove" the keys whose value was null, as a text[].  Applying it is
 * (state - remove) || set, evaluated on the latest row version.
 */
typedef struct StateDelta
{
	bool		touches[NUM_SCOPES];
	Jsonb	   *set[NUM_SCOPES];
	Datum		remove[NUM_SCOPES];
} StateDelta;

extern void ss_route_delta(Jsonb *delta, bool keep_nulls, StateDelta *out);
extern Jsonb *ss_empty_object(void);
extern Jsonb *ss_merged_state(Jsonb *session_state, Jsonb *user_state,
							  Jsonb *app_state);
extern Jsonb *ss_apply_delta(Jsonb *state, Jsonb *set, Datum remove);
extern void ss_state_not_object(const char *table) pg_attribute_noreturn();
extern Jsonb *ss_checked_state(Jsonb *state, const char *table);
extern void ss_apply_shared_deltas(const SessionKey *key,
								   const StateDelta *delta);

/* citus.c */
extern bool ss_in_citus_mode;	/* the mode of the call under way */
extern bool ss_citus_mode(void);
extern void ss_citus_init(void);

/* lock.c */
extern void ss_lock_session(const SessionKey *key);
extern void ss_lock_two_sessions(const SessionKey *a, const SessionKey *b);
extern bool ss_try_lock_session(const SessionKey *key);
extern void ss_unlock_session(const SessionKey *key);

/* store.c */
typedef enum SsQuery
{
	Q_SESSION_EXISTS,
	Q_SESSION_INSERT,
	Q_SESSION_READ,
	Q_SESSION_DELETE,
	Q_SESSION_FORK,
	Q_MESSAGE_DELETE_ALL,
	Q_MESSAGE_DELETE_AFTER,
	Q_MESSAGE_POP,
	Q_MESSAGE_COPY,
	Q_MESSAGES_RANGE,
	Q_MESSAGES_LATEST,
	Q_IDEM_LOOKUP,
	Q_IDEM_INSERT,
	Q_IDEM_DELETE_ALL,
	Q_USER_STATE_UPSERT,
	Q_APP_STATE_UPSERT,
	Q_USER_STATE_GET,
	Q_APP_STATE_GET,
	Q_LIST_APP_FIRST,
	Q_LIST_APP_TIES,
	Q_LIST_APP_OLDER,
	Q_LIST_USER_FIRST,
	Q_LIST_USER_TIES,
	Q_LIST_USER_OLDER,
	Q_LIST_APP_FIRST_ASC,
	Q_LIST_APP_TIES_ASC,
	Q_LIST_APP_NEWER,
	Q_LIST_USER_FIRST_ASC,
	Q_LIST_USER_TIES_ASC,
	Q_LIST_USER_NEWER,
	Q_EXPIRE_CANDIDATES_APP,
	Q_EXPIRE_CANDIDATES_ALL,
	/* 1.1: queries of columns and functions 1.0 does not have */
	Q_IDEM_LOOKUP_DIGEST,
	Q_IDEM_INSERT_DIGEST,
	Q_MESSAGES_TAIL,
	Q_COUNT_APP,
	Q_COUNT_USER,
	/* 1.2: the key columns 1.1 does not have */
	Q_IDEM_LOOKUP_DIGEST_OP,
	Q_IDEM_LOOKUP_CALL,
	Q_IDEM_INSERT_CALL,
	Q_IDEM_LOOKUP_CREATED,
	/* 1.2: list_sessions_with_state, the listing queries' twins */
	Q_LIST_STATE_APP_FIRST,
	Q_LIST_STATE_APP_TIES,
	Q_LIST_STATE_APP_OLDER,
	Q_LIST_STATE_USER_FIRST,
	Q_LIST_STATE_USER_TIES,
	Q_LIST_STATE_USER_OLDER,
	Q_LIST_STATE_APP_FIRST_ASC,
	Q_LIST_STATE_APP_TIES_ASC,
	Q_LIST_STATE_APP_NEWER,
	Q_LIST_STATE_USER_FIRST_ASC,
	Q_LIST_STATE_USER_TIES_ASC,
	Q_LIST_STATE_USER_NEWER,
	/* distributed mode only (citus.c) */
	Q_CITUS_HEAD_LOCK,
	Q_CITUS_HEAD_READ,
	Q_CITUS_SESSION_READ,
	Q_CITUS_HEAD_UPDATE,
	Q_CITUS_MESSAGE_INSERT,
	Q_CITUS_MESSAGES_INSERT,
	Q_CITUS_SESSION_INSERT,
	Q_CITUS_SESSION_INSERT_STRICT,
	Q_CITUS_FIRST_APP,
	Q_CITUS_NEXT_APP,
	Q_CITUS_EXPIRE_DELETE,
	Q_CITUS_MESSAGES_BACK,
#ifdef SESSION_STORE_TEST_NO_UPSERT
	Q_USER_STATE_UPDATE,
	Q_APP_STATE_UPDATE,
	Q_USER_STATE_INSERT,
	Q_APP_STATE_INSERT,
#endif
	NUM_QUERIES
} SsQuery;

/* direct.c: the tables the hot path reads and writes without SPI */
typedef enum SsTableId
{
	SS_SESSIONS,
	SS_MESSAGES,
	SS_IDEM_KEYS,				/* idempotency_keys: the keys of appends */
	SS_NUM_TABLES
} SsTableId;

#define SS_MAX_TABLE_COLUMNS 10

typedef struct SsTable
{
	Relation	rel;			/* NULL until opened */
	bool		for_write;		/* opened as a result relation */
	AttrNumber	attnums[SS_MAX_TABLE_COLUMNS];	/* our columns in rel */
	Relation	pkey;			/* primary key */
	bool		pkey_opened;	/* opened here, not by ExecOpenIndices */
	/* for writes: the executor's view of the table */
	struct EState *estate;
	struct ResultRelInfo *rri;
	struct TupleTableSlot *slot;
	bool		plain_indexes;	/* see InsertHeadIndexEntries */
	bool		epq_active;
	EPQState	epqstate;		/* for BEFORE UPDATE row triggers */
	/* defaults of the columns the inserts do not name (added ones) */
	int			ndefaults;
	AttrNumber *default_attnums;
	struct ExprState **defaults;
} SsTable;

/*
 * One SQL-callable invocation: its short-lived memory context, the tables
 * it opened, and, while SPI is connected, the caller's identity to restore.
 */
typedef struct SsCall
{
	MemoryContext callcxt;		/* per-call memory, deleted by ss_call_end */
	MemoryContext oldcxt;		/* the caller's context, for results */
	Oid			save_userid;
	int			save_sec_context;
	bool		connected;
	struct EState *estate;		/* of the call's writes, or NULL */
	SsTable		tables[SS_NUM_TABLES];
} SsCall;

/* The extension as pg_extension records it (store.c). */
typedef struct SsExtension
{
	bool		valid;
	Oid			extoid;
	Oid			nspoid;			/* its schema */
	Oid			owner;			/* the role every call runs as */
	Oid			tables[SS_NUM_TABLES];	/* members, found in nspoid by name */
} SsExtension;

extern const SsExtension *ss_extension(void);
extern void ss_call_begin(SsCall *call);
extern void ss_call_end(SsCall *call);
extern void ss_spi_begin(SsCall *call);
extern void ss_spi_end(SsCall *call);
extern int	ss_exec(SsQuery q, Datum *values, const char *nulls, bool read_only);
extern int	ss_exec_latest(SsQuery q, Datum *values, const char *nulls);
extern Portal ss_open_cursor(SsQuery q, Datum *values, const char *nulls);
extern void ss_session_key_values(const SessionKey *key, Datum *values);

/*
 * Column access on the last SPI result, copied into the per-call context.
 * Its column types were checked by ss_exec against the query's declared
 * result layout (store.c); NULLs are the caller's to check.
 */
extern Datum ss_result_datum(SsCall *call, int row, int col, bool *isnull);
extern int64 ss_result_int64(int row, int col, bool *isnull);
extern void ss_check_result_type(int col, Oid type, const char *table,
								 const char *column);
SS_NORETURN_BEFORE extern void ss_report_skipped_insert(const char *table,
														const char *what) SS_NORETURN_AFTER;
SS_NORETURN_BEFORE extern void ss_report_null_column(const char *table,
													 const char *column) SS_NORETURN_AFTER;

/* head.c: the sessions row every mutation serializes on */
typedef struct SessionHead
{
	int64		sid;			/* internal key of the session's messages */
	int64		version;
	int64		last_seq;
	TimestampTz update_time;
	HeapTuple	tuple;			/* the sessions row as read (direct path) */
	Jsonb	   *state;			/* its session state (distributed mode) */
	const SessionKey *key;		/* whose head it is (distributed mode) */
} SessionHead;

extern bool ss_read_head(SsCall *call, const SessionKey *key, bool for_update,
						 SessionHead *head);
extern void ss_lock_head(SsCall *call, const SessionKey *key, SessionHead *head);
extern Snapshot ss_locked_snapshot(void);
extern void ss_release_locked_snapshot(Snapshot snap);
extern void ss_check_version(FunctionCallInfo fcinfo, int argno,
							 const SessionKey *key, const SessionHead *head);
extern int64 ss_seq_after(const SessionKey *key, int64 last_seq, int64 n);
extern void ss_advance_head(SsCall *call, SessionHead *head,
							int64 new_last_seq, const StateDelta *delta);
extern void ss_delete_session_contents(text *user_id, int64 sid);
extern void ss_prepare_append(SsCall *call);
extern void ss_append_rows(SsCall *call, text *user_id, int64 sid,
						   int64 first_seq, Datum *messages, int n,
						   TimestampTz create_time);

/* direct.c */
extern SsTable *ss_table(SsCall *call, SsTableId which, bool for_write);
extern void ss_table_close(SsTable *t);
extern Relation ss_messages_key(SsTable *t);
extern AttrNumber ss_messages_attnum(SsTable *t, int col);
extern void ss_writes_end(SsCall *call);
extern HeapTuple ss_fetch_head(SsTable *t, const SessionKey *key, Snapshot snap);
extern void ss_head_from_tuple(SsTable *t, HeapTuple tuple, SessionHead *head);
extern Jsonb *ss_head_state(SsTable *t, HeapTuple tuple);
extern void ss_update_head(SsTable *t, HeapTuple oldtup, const SessionHead *head,
						   Jsonb *new_state);
extern Datum *ss_prepare_messages(Jsonb *messages, int n);
extern void ss_insert_messages(SsTable *t, text *user_id, int64 sid,
							   int64 first_seq, Datum *messages, int n,
							   TimestampTz create_time);

/*
 * An append's idempotency key row, as direct.c reads and writes it: the
 * columns of 1.0, then 1.1's request_digest and removed (has_digest), then
 * 1.2's operation (read only).  values/nulls are indexed by SsKeyColumn.
 */
typedef enum SsKeyColumn
{
	KC_FIRST_SEQ,
	KC_LAST_SEQ,
	KC_VERSION,
	KC_UPDATE_TIME,
	KC_REQUEST_DIGEST,
	KC_REMOVED,
	KC_OPERATION,
	KC_NCOLUMNS
} SsKeyColumn;

typedef struct SsKeyRow
{
	Datum		values[KC_NCOLUMNS];
	bool		nulls[KC_NCOLUMNS];
} SsKeyRow;

extern bool ss_keys_table_has(SsTable *t, SsKeyColumn col);
extern bool ss_fetch_key(SsTable *t, text *user_id, int64 sid, text *idem_key,
						 bool with_digest, Snapshot snap, SsKeyRow *row);
extern void ss_insert_key(SsTable *t, text *user_id, int64 sid, text *idem_key,
						  bool with_digest, const SsKeyRow *row);

/* session.c: helpers shared with the other files */
#define SS_SESSION_NATTS 8		/* columns of session_store.session */
extern bool ss_read_session(SsCall *call, const SessionKey *key,
							bool read_only, Datum *values, bool *nulls);
extern Datum ss_session_result(FunctionCallInfo fcinfo, SsCall *call,
							   Datum *values, bool *nulls);

/* keys.c: idempotency keys of create, fork, pop, rewind and clear (1.2) */
typedef enum SsKeyKind
{
	KEY_APPEND = 0,				/* append_messages or replace_messages */
	KEY_CREATE,
	KEY_FORK,
	KEY_POP,
	KEY_REWIND,
	KEY_CLEAR
} SsKeyKind;

/* What a keyed call stores with its key, and a replay returns. */
typedef struct SsKeyResult
{
	int64		version;		/* the session's version after the call */
	TimestampTz update_time;	/* ... and its update_time */
	bool		popped;			/* pop: a row was popped, the three below */
	int64		popped_seq;
	Datum		popped_message;
	TimestampTz popped_time;
	int64		removed;		/* rewind, clear */
} SsKeyResult;

extern text *ss_arg_key(FunctionCallInfo fcinfo, int argno);
extern bool ss_keys_have_kinds(void);
extern SsKeyKind ss_key_kind(text *operation);
SS_NORETURN_BEFORE extern void ss_report_key_kind(const SessionKey *key,
												  text *idem_key,
												  SsKeyKind used,
												  SsKeyKind now) SS_NORETURN_AFTER;
extern bool ss_lookup_call_key(SsCall *call, const SessionKey *key, int64 sid,
							   text *idem_key, SsKeyKind kind,
							   SsKeyResult *stored);
extern void ss_store_call_key(const SessionKey *key, int64 sid,
							  text *idem_key, SsKeyKind kind,
							  const SsKeyResult *res);
extern void ss_check_key_committed_since(SsQuery q, const SessionKey *key,
										 text *idem_key, Datum *args);
SS_NORETURN_BEFORE extern void ss_report_key_committed_since(const SessionKey *key,
															 text *idem_key) SS_NORETURN_AFTER;

/* errors shared by several functions */
SS_NORETURN_BEFORE extern void ss_report_session_missing(const SessionKey *key) SS_NORETURN_AFTER;

#endif							/* SESSION_STORE_H */
