/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  The hot path's table access: the session head, the message log and
 *	  the idempotency keys of appends, through the executor's plan-free
 *	  table-modification layer.
 *
 * An append does three things to storage: find the session head by primary
 * key, update it, insert the messages; with an idempotency key, two more:
 * find the key by primary key, insert it.  Through SPI each is a statement with
 * its own parse-analysis (or plan-cache check), executor start-up and
 * shutdown, which costs more than the storage work itself and, because the
 * session lock is held until commit, lengthens the critical section that
 * bounds a hot session.  Here they are done the way logical replication's
 * apply worker changes a table (execReplication.c, worker.c): a
 * ResultRelInfo in an EState, no parse, no plan.  The head is found by an
 * index scan of the sessions primary key, a key by one of the
 * idempotency_keys primary key (under the session lock, on the head's
 * snapshot: head.c); the update and the inserts go
 * through the executor's own routines, so every duty of an UPDATE or an
 * INSERT is done as the executor does it:
 *
 *	- relation kind, replica identity against the table's publications,
 *	  row-level security (refused, as logical replication refuses it) and
 *	  the privileges of the role the call runs as: checked when a table is
 *	  opened for writing (CheckValidResultRel, check_enable_rls,
 *	  pg_class_aclcheck);
 *	- NOT NULL and CHECK constraints, partition constraints, stored
 *	  generated columns: ExecConstraints, ExecPartitionCheck,
 *	  ExecComputeStoredGenerated;
 *	- every index, expression, partial, deferrable and exclusion ones
 *	  included, with the executor's own "unchanged" hint and HOT rules:
 *	  ExecOpenIndices, ExecInsertIndexTuples (for the head, one check it
 *	  makes is proven unnecessary and skipped: see InsertHeadIndexEntries);
 *	- row triggers, user-defined ones and the RI triggers of foreign keys
 *	  that reference these tables: ExecBR*Triggers / ExecAR*Triggers, the
 *	  AFTER ones queued in an after-trigger query level of this call
 *	  (AfterTriggerBeginQuery / AfterTriggerEndQuery, as the apply worker
 *	  does) and fired when the call ends.  Statement triggers do not fire
 *	  (as in logical replication); rules are refused when a table is opened,
 *	  since this path, like the apply worker's, would not apply them;
 *	- the table access method's tuple_update/multi_insert, TOAST, WAL,
 *	  logical decoding, predicate locks: inside the table AM and index AMs;
 *	- relation locks: RowExclusiveLock on the table and its indexes for
 *	  writes (AccessShareLock to read), held to the end of the transaction;
 *	- read-only transactions and hot standby: a table asked for writing in
 *	  a read-only transaction is opened for reading, and the first write
 *	  raises 25006 (PreventCommandIfReadOnly), so a call that turns out to
 *	  write nothing (an idempotent replay) succeeds there;
 *	- concurrent update of the head (only possible under REPEATABLE READ or
 *	  SERIALIZABLE, whose snapshot can be older than the last holder's
 *	  commit): 40001, as the executor raises it.
 *
 * What was kept from a hand-written path: the tables and their indexes are
 * opened, and the executor state built, before the session lock is taken;
 * under the lock there is one primary-key probe, one tuple update and the
 * inserts.
 *
 * Columns are found by name and checked by type OID on every open, so
 * columns an administrator adds (filled with their defaults on insert,
 * kept on update) or drops do not get in the way, and a column whose type
 * was changed is a clean error.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"


/* Columns of session_store.sessions and .messages, as 1-based indexes. */
enum
{
	S_APP_NAME = 1, S_USER_ID, S_SESSION_ID, S_SID, S_STATE, S_VERSION,
	S_LAST_SEQ, S_CREATE_TIME, S_UPDATE_TIME, S_NATTS = S_UPDATE_TIME
};
enum
{
	M_USER_ID = 1, M_SID, M_SEQ, M_MESSAGE, M_CREATE_TIME,
	M_NATTS = M_CREATE_TIME
};

/*
 * Columns of session_store.idempotency_keys: 1.0's, then 1.1's
 * request_digest and removed, then 1.2's operation, in SsKeyColumn's order
 * from K_FIRST_SEQ on.  The last three are optional (a table at 1.0 has
 * none of them); pop's popped_message and popped_time are no append's
 * business and are left to their defaults.
 */
enum
{
	K_USER_ID = 1, K_SID, K_IDEM_KEY, K_FIRST_SEQ, K_LAST_SEQ, K_VERSION,
	K_UPDATE_TIME, K_REQUEST_DIGEST, K_REMOVED, K_OPERATION,
	K_NATTS = K_OPERATION
};
StaticAssertDecl(S_NATTS <= SS_MAX_TABLE_COLUMNS && M_NATTS <= SS_MAX_TABLE_COLUMNS &&
				 K_NATTS <= SS_MAX_TABLE_COLUMNS,
				 "SsTable.attnums is too small");
StaticAssertDecl(K_FIRST_SEQ + KC_NCOLUMNS - 1 == K_NATTS,
				 "SsKeyColumn does not match the idempotency_keys columns");

/* The columns this file reads and writes, by name and type. */
typedef struct SsColumn
{
	const char *name;
	Oid			type;
	bool		optional;		/* absent before some version: attnum 0 */
} SsColumn;

static const SsColumn sessions_columns[S_NATTS] = {
	{"app_name", TEXTOID}, {"user_id", TEXTOID}, {"session_id", TEXTOID},
	{"sid", INT8OID}, {"state", JSONBOID}, {"version", INT8OID},
	{"last_seq", INT8OID}, {"create_time", TIMESTAMPTZOID},
	{"update_time", TIMESTAMPTZOID}
};
static const SsColumn messages_columns[M_NATTS] = {
	{"user_id", TEXTOID}, {"sid", INT8OID}, {"seq", INT8OID},
	{"message", JSONBOID}, {"create_time", TIMESTAMPTZOID}
};
static const SsColumn keys_columns[K_NATTS] = {
	{"user_id", TEXTOID}, {"sid", INT8OID}, {"idempotency_key", TEXTOID},
	{"first_seq", INT8OID}, {"last_seq", INT8OID}, {"version", INT8OID},
	{"update_time", TIMESTAMPTZOID},
	{"request_digest", BYTEAOID, true}, {"removed", INT8OID, true},
	{"operation", TEXTOID, true}
};

static const struct
{
	const char *name;
	const SsColumn *columns;
	int			ncolumns;
	CmdType		write;			/* what this file does to the table */
	AclMode		write_perm;
}			table_defs[SS_NUM_TABLES] = {
	[SS_SESSIONS] = {"sessions", sessions_columns, S_NATTS, CMD_UPDATE, ACL_UPDATE},
	[SS_MESSAGES] = {"messages", messages_columns, M_NATTS, CMD_INSERT, ACL_INSERT},
	[SS_IDEM_KEYS] = {"idempotency_keys", keys_columns, K_NATTS, CMD_INSERT, ACL_INSERT},
};

/* The table's OID: a member of the extension, in its schema (store.c). */
static Oid
TableOid(SsTableId which)
{
	return ss_extension()->tables[which];
}

/*
 * The CHECK constraints of each table, read and planned once per backend
 * instead of once per call (ExecRelCheck would do it in every call's
 * EState: stringToNode and expression_planner, several microseconds per
 * constraint on the hot path).  An entry is used only while the table's
 * constraints are exactly the ones it was built from (same OID, same
 * count, same ccbin, compared on every open; the table lock held from then
 * on keeps them so) and no function was replaced since (a pg_proc
 * invalidation marks every entry stale: planning may have inlined one).
 *
 * The cache holds the planned expression trees only, never their
 * executable state: each call compiles those (ExecInitExpr) into its own
 * EState.  An ExprState keeps what its first evaluation caches (a
 * whole-row reference's tuple descriptor, for one) in the per-query memory
 * of the EState it runs in, which FreeExecutorState frees at the end of the
 * call: a cached ExprState would use freed memory in the next call.  The
 * trees are read-only to the executor.  A replaced entry's memory lives until the end of the
 * transaction: the ExprStates of a call of this transaction may still
 * point into its trees.
 *
 * From PostgreSQL 18 on (ri_CheckConstraintExprs, NOT ENFORCED
 * constraints) the executor compiles them itself.
 */
#if PG_VERSION_NUM < 180000
typedef struct CheckCache
{
	Oid			relid;
	int			ncheck;
	bool		stale;
	char	  **ccbin;
	Expr	  **exprs;			/* planned, as ExecPrepareExpr plans them */
	MemoryContext cxt;
} CheckCache;

static CheckCache check_cache[SS_NUM_TABLES];

static void
ForgetChecks(Datum arg, int cacheid, uint32 hashvalue)
{
	for (int i = 0; i < SS_NUM_TABLES; i++)
		check_cache[i].stale = true;
}

#endif

/*
 * Give rri the CHECK constraints of its table, compiled into estate's
 * memory (the current context) from the cached plans.
 */
static void
UseCachedChecks(ResultRelInfo *rri, SsTableId which)
{
#if PG_VERSION_NUM < 180000
	static bool callback_registered = false;
	Relation	rel = rri->ri_RelationDesc;
	TupleConstr *constr = rel->rd_att->constr;
	CheckCache *c = &check_cache[which];
	bool		valid;
	MemoryContext old;

	if (constr == NULL || constr->num_check == 0)
		return;
	valid = c->cxt != NULL && !c->stale && c->relid == RelationGetRelid(rel) &&
		c->ncheck == constr->num_check;
	for (int i = 0; valid && i < c->ncheck; i++)
		valid = strcmp(c->ccbin[i], constr->check[i].ccbin) == 0;
	if (!valid)
	{
		if (!callback_registered)
		{
			CacheRegisterSyscacheCallback(PROCOID, ForgetChecks, (Datum) 0);
			callback_registered = true;
		}
		if (c->cxt != NULL)
			MemoryContextSetParent(c->cxt, TopTransactionContext);
		c->relid = InvalidOid;	/* not valid until built */
		c->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "session_store check constraints",
									   ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(c->cxt);
		c->ncheck = constr->num_check;
		c->ccbin = palloc(sizeof(char *) * c->ncheck);
		c->exprs = palloc(sizeof(Expr *) * c->ncheck);
		/* as ExecRelCheck does it, into a context of our own */
		for (int i = 0; i < c->ncheck; i++)
		{
			c->ccbin[i] = pstrdup(constr->check[i].ccbin);
			c->exprs[i] = expression_planner(stringToNode(c->ccbin[i]));
		}
		MemoryContextSwitchTo(old);
		c->relid = RelationGetRelid(rel);
		c->stale = false;
	}
	rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * c->ncheck);
	for (int i = 0; i < c->ncheck; i++)
		rri->ri_ConstraintExprs[i] = ExecInitExpr(c->exprs[i], NULL);
#endif
}

/*
 * Map the columns this file uses to rel's attribute numbers, checking each
 * one's type; dropped columns are skipped and added ones ignored here.  A
 * missing column or one of another type is an error, as the executor would
 * raise for a statement that names it; a missing optional column (one a
 * table at an older version does not have) maps to attnum 0.
 */
static void
CheckTableShape(SsTable *t, SsTableId which)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	const SsColumn *cols = table_defs[which].columns;

	for (int c = 0; c < table_defs[which].ncolumns; c++)
	{
		Form_pg_attribute att = NULL;

		/* where the install script put it, unless the table was altered */
		if (c < desc->natts &&
			!TupleDescAttr(desc, c)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, c)->attname), cols[c].name) == 0)
			att = TupleDescAttr(desc, c);
		for (int i = 0; att == NULL && i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), cols[c].name) == 0)
				att = a;
		}
		if (att == NULL && cols[c].optional)
		{
			t->attnums[c] = InvalidAttrNumber;
			continue;
		}
		if (att == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table session_store.%s does not exist",
							cols[c].name, table_defs[which].name)));
		if (att->atttypid != cols[c].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table session_store.%s is of type %s, not %s",
							cols[c].name, table_defs[which].name,
							format_type_be(att->atttypid),
							format_type_be(cols[c].type)),
					 errhint("Change the column back to type %s.",
							 format_type_be(cols[c].type))));
		if (att->attgenerated != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table session_store.%s cannot be a generated column",
							cols[c].name, table_defs[which].name)));
		t->attnums[c] = att->attnum;
	}
	if (t->rel->rd_rules != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rules on session_store.%s are not supported",
						table_defs[which].name)));
}

/*
 * The primary key the scans of this file rely on: a btree on
 * (app_name, user_id, session_id) for sessions, (user_id, sid, seq) for
 * messages, (user_id, sid, idempotency_key) for idempotency_keys, in the
 * columns CheckTableShape found.
 */
static void
CheckPrimaryKey(SsTable *t, SsTableId which)
{
	static const int key_columns[SS_NUM_TABLES][3] = {
		[SS_SESSIONS] = {S_APP_NAME, S_USER_ID, S_SESSION_ID},
		[SS_MESSAGES] = {M_USER_ID, M_SID, M_SEQ},
		[SS_IDEM_KEYS] = {K_USER_ID, K_SID, K_IDEM_KEY},
	};
	static const char *const key_names[SS_NUM_TABLES] = {
		[SS_SESSIONS] = "(app_name, user_id, session_id)",
		[SS_MESSAGES] = "(user_id, sid, seq)",
		[SS_IDEM_KEYS] = "(user_id, sid, idempotency_key)",
	};
	Form_pg_index index;
	bool		ok;

	if (t->pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table session_store.%s has no primary key",
						table_defs[which].name)));
	index = t->pkey->rd_index;
	ok = index->indnkeyatts == 3 && t->pkey->rd_rel->relam == BTREE_AM_OID;
	for (int i = 0; ok && i < 3; i++)
		ok = index->indkey.values[i] == t->attnums[key_columns[which][i] - 1];
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary key of session_store.%s must be a btree on %s",
						table_defs[which].name, key_names[which])));
}

/* For scans of messages by its primary key: the key, checked. */
Relation
ss_messages_key(SsTable *t)
{
	CheckPrimaryKey(t, SS_MESSAGES);
	return t->pkey;
}

/* Column attnum in the table of a message column (1-based, M_*-ordered). */
AttrNumber
ss_messages_attnum(SsTable *t, int col)
{
	Assert(col >= 1 && col <= M_NATTS);
	return t->attnums[col - 1];
}

/*
 * The executor state of the call's writes: created with the first table
 * opened for writing, its range table holding both tables, and an
 * after-trigger query level open until ss_writes_end.
 */
static EState *
WritesBegin(SsCall *call)
{
	EState	   *estate;
	List	   *rtable = NIL;
	List	   *perminfos = NIL;
	MemoryContext old;

	if (call->estate != NULL)
		return call->estate;

	estate = CreateExecutorState();
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	for (int i = 0; i < SS_NUM_TABLES; i++)
	{
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = TableOid(i);
		rte->relkind = RELKIND_RELATION;
		rte->rellockmode = RowExclusiveLock;
		rtable = lappend(rtable, rte);
		SS_RTE_ADD_PERMS(rte, perminfos, table_defs[i].write_perm);
	}
	SS_INIT_RANGE_TABLE(estate, rtable, perminfos);
	estate->es_snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot;
	estate->es_output_cid = GetCurrentCommandId(true);
	MemoryContextSwitchTo(old);

	AfterTriggerBeginQuery();
	call->estate = estate;
	return estate;
}

/*
 * End the call's writes: fire the AFTER row triggers they queued, then free
 * the executor state.  Called by ss_call_end, still as the extension owner.
 */
void
ss_writes_end(SsCall *call)
{
	EState	   *estate = call->estate;

	if (estate == NULL)
		return;
	call->estate = NULL;
	AfterTriggerEndQuery(estate);
	for (int i = 0; i < SS_NUM_TABLES; i++)
	{
		SsTable    *t = &call->tables[i];

		if (t->rri != NULL)
		{
			/*
			 * As ExecCloseIndices, but the index locks stay until commit
			 * like the table's (they are released in bulk then, cheaper
			 * than one by one here).
			 */
			for (int k = 0; k < t->rri->ri_NumIndices; k++)
			{
				SS_INDEX_INSERT_CLEANUP(t->rri->ri_IndexRelationDescs[k],
										t->rri->ri_IndexRelationInfo[k]);
				index_close(t->rri->ri_IndexRelationDescs[k], NoLock);
			}
			t->rri = NULL;
			t->pkey = NULL;
		}
		if (t->epq_active)
		{
			EvalPlanQualEnd(&t->epqstate);
			t->epq_active = false;
		}
	}
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/*
 * Default expressions of the columns the inserts do not name (the first
 * nours of this file's columns are named): the columns an administrator
 * added, evaluated for each inserted row as an INSERT naming only our
 * columns would (and as the apply worker fills columns a publisher lacks).
 * For idempotency_keys these include request_digest and removed, which an
 * insert of 1.0's form does not name either.
 */
static void
PrepareDefaults(SsTable *t, EState *estate, int nours)
{
	TupleDesc	desc = RelationGetDescr(t->rel);

	t->ndefaults = 0;
	if (desc->natts == nours)
		return;
	t->default_attnums = palloc(sizeof(AttrNumber) * desc->natts);
	t->defaults = palloc(sizeof(ExprState *) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		bool		ours = false;
		Expr	   *expr;

		for (int c = 0; c < nours; c++)
			ours |= t->attnums[c] == a->attnum;
		if (ours || a->attisdropped || a->attgenerated != '\0')
			continue;
		expr = (Expr *) build_column_default(t->rel, a->attnum);
		if (expr == NULL)
			continue;
		t->default_attnums[t->ndefaults] = a->attnum;
		t->defaults[t->ndefaults] = ExecPrepareExpr(expr, estate);
		t->ndefaults++;
	}
}

/*
 * Record in the range table the columns this call's write sets, as the
 * parser would for the INSERT or UPDATE statement: the executor's
 * "unchanged" index hint, its choice of generated columns to recompute and
 * its error reports read them.
 */
static void
SetWrittenColumns(EState *estate, SsTable *t, SsTableId which)
{
	Bitmapset  *cols = NULL;
	Bitmapset  *generated = NULL;
	TupleDesc	desc = RelationGetDescr(t->rel);

	if (which == SS_SESSIONS)
	{
		static const int set[] = {S_STATE, S_VERSION, S_LAST_SEQ, S_UPDATE_TIME};

		for (int k = 0; k < lengthof(set); k++)
			cols = bms_add_member(cols, t->attnums[set[k] - 1] -
								  FirstLowInvalidHeapAttributeNumber);
		/* recompute every stored generated column: a superset is safe */
		for (int i = 0; i < desc->natts; i++)
			if (TupleDescAttr(desc, i)->attgenerated == ATTRIBUTE_GENERATED_STORED)
				generated = bms_add_member(generated, i + 1 -
										   FirstLowInvalidHeapAttributeNumber);
	}
	else
		for (int c = 0; c < table_defs[which].ncolumns; c++)
			if (t->attnums[c] != InvalidAttrNumber &&
				!(which == SS_IDEM_KEYS && c + 1 == K_OPERATION))
				cols = bms_add_member(cols, t->attnums[c] -
									  FirstLowInvalidHeapAttributeNumber);
	SS_RTE_SET_COLUMNS(estate, which + 1,
					   which == SS_SESSIONS ? NULL : cols,
					   which == SS_SESSIONS ? cols : NULL,
					   generated);
}

/*
 * Open a table as the target of this call's writes: the checks the
 * executor makes of a result relation, and its indexes.
 */
static void
OpenForWrite(SsCall *call, SsTable *t, SsTableId which, Oid pkoid)
{
	EState	   *estate = WritesBegin(call);
	Relation	rel = t->rel;
	AclResult	aclresult;
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, rel, which + 1, NULL, 0);
	/* found by ExecGetTriggerResultRel, as in the apply worker */
	estate->es_opened_result_relations =
		lappend(estate->es_opened_result_relations, t->rri);
	SS_CHECK_VALID_RESULT_REL(t->rri, table_defs[which].write);

	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row-level security on session_store.%s is not supported",
						table_defs[which].name),
				 errdetail("The extension's owner is subject to a forced row-level security policy.")));
	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(),
								  table_defs[which].write_perm | ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));

	SetWrittenColumns(estate, t, which);
	UseCachedChecks(t->rri, which);
	ExecOpenIndices(t->rri, false);
	t->pkey = NULL;
	t->plain_indexes = true;
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
	{
		Relation	index = t->rri->ri_IndexRelationDescs[i];

		if (RelationGetRelid(index) == pkoid)
			t->pkey = index;
		if (t->rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL ||
			!index->rd_index->indimmediate)
			t->plain_indexes = false;
	}
	if ((t->rri->ri_TrigDesc && t->rri->ri_TrigDesc->trig_update_before_row) ||
		(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored))
		t->plain_indexes = false;	/* the update may change any column */

	t->slot = table_slot_create(rel, &estate->es_tupleTable);
	t->estate = estate;
	if (which == SS_MESSAGES)
		PrepareDefaults(t, estate, M_NATTS);
	else if (which == SS_IDEM_KEYS)
		PrepareDefaults(t, estate, K_UPDATE_TIME);
	MemoryContextSwitchTo(old);
}

/*
 * Open one of the tables for this call: to write (RowExclusiveLock on it and
 * all its indexes, and the executor state of a result relation) or to read
 * (AccessShareLock on it and its primary key).  The handles stay open until
 * ss_call_end; the locks until commit.  In a read-only transaction a table
 * wanted for writing is opened for reading: the first write raises 25006.
 */
SsTable *
ss_table(SsCall *call, SsTableId which, bool for_write)
{
	SsTable    *t = &call->tables[which];
	LOCKMODE	mode;
	MemoryContext old;
	Oid			pkoid;

	/* distributed, these tables are shells: the rows are in the shards */
	if (ss_in_citus_mode)
		elog(ERROR, "direct access to session_store.%s on a distributed installation",
			 table_defs[which].name);
	if (for_write && (XactReadOnly || IsInParallelMode()))
		for_write = false;		/* refused at the first write */
	if (t->rel != NULL && (t->for_write || !for_write))
		return t;
	if (t->rel != NULL)
		ss_table_close(t);		/* reopen for writing */

	mode = for_write ? RowExclusiveLock : AccessShareLock;
	old = MemoryContextSwitchTo(call->callcxt);
	t->rel = table_open(TableOid(which), mode);
	t->for_write = for_write;
	CheckTableShape(t, which);

	/*
	 * Taken now: each index_open below may process invalidations and
	 * rebuild t->rel's cache entry, which forgets rd_pkindex until the
	 * index list is read again.
	 */
	pkoid = SS_PRIMARY_KEY_INDEX(t->rel);
	if (for_write)
		OpenForWrite(call, t, which, pkoid);
	else if (OidIsValid(pkoid))
	{
		t->pkey = index_open(pkoid, AccessShareLock);
		t->pkey_opened = true;
	}
	if (which != SS_MESSAGES)
		CheckPrimaryKey(t, which);
	MemoryContextSwitchTo(old);
	return t;
}

/* Close a table opened by ss_table; its locks stay until commit. */
void
ss_table_close(SsTable *t)
{
	if (t->rel == NULL)
		return;
	if (t->pkey_opened)
		index_close(t->pkey, NoLock);
	/* a write-opened table's indexes are closed by ss_writes_end */
	table_close(t->rel, NoLock);
	t->rel = NULL;
	t->pkey = NULL;
	t->pkey_opened = false;
}

/* 25006 (or the parallel-mode error) when t could not be opened to write. */
static void
CheckWritable(SsTable *t)
{
	if (t->for_write)
		return;
	PreventCommandIfReadOnly("a session_store write");
	PreventCommandIfParallelMode("a session_store write");
	elog(ERROR, "session_store table \"%s\" was not opened for writing",
		 RelationGetRelationName(t->rel));
}

/*
 * The row of t whose primary key (three columns, checked by
 * CheckPrimaryKey) equals keys, on snapshot snap: a copy (t_self set), or
 * NULL.
 */
static HeapTuple
FetchByPrimaryKey(SsTable *t, ScanKeyData *keys, Snapshot snap)
{
	IndexScanDesc scan;
	TupleTableSlot *slot;
	HeapTuple	tuple = NULL;

	slot = t->slot != NULL ? t->slot : table_slot_create(t->rel, NULL);
	scan = SS_INDEX_BEGINSCAN(t->rel, t->pkey, snap, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
		tuple = ExecCopySlotHeapTuple(slot);
	index_endscan(scan);
	if (slot == t->slot)
		ExecClearTuple(slot);
	else
		ExecDropSingleTupleTableSlot(slot);
	return tuple;
}

/*
 * Find the head row of a session through the sessions primary key, on
 * snapshot snap.  Returns a copy of the row (t_self set), or NULL.
 */
HeapTuple
ss_fetch_head(SsTable *t, const SessionKey *key, Snapshot snap)
{
	ScanKeyData keys[3];
	text	   *values[3] = {key->app_name, key->user_id, key->session_id};

	for (int i = 0; i < 3; i++)
		ScanKeyEntryInitialize(&keys[i], 0, i + 1, BTEqualStrategyNumber,
							   InvalidOid, t->pkey->rd_indcollation[i],
							   F_TEXTEQ, PointerGetDatum(values[i]));
	return FetchByPrimaryKey(t, keys, snap);
}

/* Column col (S_*) of a sessions row; a NULL is corrupt data, not a value. */
static Datum
HeadColumn(SsTable *t, HeapTuple tuple, int col)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, t->attnums[col - 1],
								 RelationGetDescr(t->rel), &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("session_store.sessions holds a NULL %s",
						sessions_columns[col - 1].name)));
	return d;
}

/* The head fields of a sessions row. */
void
ss_head_from_tuple(SsTable *t, HeapTuple tuple, SessionHead *head)
{
	head->sid = DatumGetInt64(HeadColumn(t, tuple, S_SID));
	head->version = DatumGetInt64(HeadColumn(t, tuple, S_VERSION));
	head->last_seq = DatumGetInt64(HeadColumn(t, tuple, S_LAST_SEQ));
	head->update_time = DatumGetTimestampTz(HeadColumn(t, tuple, S_UPDATE_TIME));
}

/* The session-scoped state of a sessions row, detoasted. */
Jsonb *
ss_head_state(SsTable *t, HeapTuple tuple)
{
	return DatumGetJsonbP(HeadColumn(t, tuple, S_STATE));
}

/* 09000 when a BEFORE trigger changed what the head's invariants rest on. */
static void
CheckTriggerKeptHead(SsTable *t, TupleTableSlot *slot, const SessionHead *head)
{
	static const int kept[] = {S_SID, S_VERSION, S_LAST_SEQ};
	bool		isnull;

	for (int k = 0; k < lengthof(kept); k++)
	{
		Datum		d = slot_getattr(slot, t->attnums[kept[k] - 1], &isnull);
		int64		want = kept[k] == S_SID ? head->sid :
			kept[k] == S_VERSION ? head->version : head->last_seq;

		if (isnull || DatumGetInt64(d) != want)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on session_store.sessions changed column \"%s\" of a session",
							sessions_columns[kept[k] - 1].name),
					 errdetail("Triggers on session_store.sessions must leave sid, version and last_seq as the extension sets them.")));
	}
}

/*
 * True if the head update cannot have changed what index entry ii holds:
 * no expression, no predicate, no key or included column among those the
 * update sets.
 */
static bool
IndexUnchanged(SsTable *t, IndexInfo *ii)
{
	static const int set[] = {S_STATE, S_VERSION, S_LAST_SEQ, S_UPDATE_TIME};

	if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
		return false;
	for (int k = 0; k < ii->ii_NumIndexAttrs; k++)
		for (int c = 0; c < lengthof(set); c++)
			if (ii->ii_IndexAttrNumbers[k] == t->attnums[set[c] - 1])
				return false;
	return true;
}

/*
 * The index entries of the head's new version (slot, its TID set).
 *
 * ExecInsertIndexTuples does this for an UPDATE, checking every unique
 * index for duplicates.  A unique index whose entry the update cannot have
 * changed (the primary key: the names of a session are never updated)
 * needs no such check: the row held those values already, and nothing else
 * can take them while the row is live.  That check was the costliest step
 * of an append (a second descent of the primary key and a heap visit), so
 * for tables whose indexes are all immediate and without exclusion
 * constraints, and with no BEFORE UPDATE trigger or generated column that
 * could change other columns, the entries are inserted here, as
 * ExecInsertIndexTuples would insert them, except for that check.
 * Otherwise ExecInsertIndexTuples does it all.
 */
static List *
InsertHeadIndexEntries(SsTable *t, TupleTableSlot *slot, EState *estate,
					   SS_UPDATE_INDEXES_TYPE update_indexes)
{
	ResultRelInfo *rri = t->rri;
	ExprContext *econtext;

	if (!t->plain_indexes)
		return SS_INSERT_INDEX_TUPLES(rri, slot, estate, true, update_indexes);

	econtext = GetPerTupleExprContext(estate);
	econtext->ecxt_scantuple = slot;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		bool		unchanged;

		if (index == NULL || !ii->ii_ReadyForInserts ||
			!SS_INDEX_WANTED(ii, update_indexes))
			continue;
		if (ii->ii_Predicate != NIL)
		{
			if (ii->ii_PredicateState == NULL)
				ii->ii_PredicateState = ExecPrepareQual(ii->ii_Predicate, estate);
			if (!ExecQual(ii->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(ii, slot, estate, values, isnull);
		unchanged = IndexUnchanged(t, ii);
		(void) index_insert(index, values, isnull, &slot->tts_tid, t->rel,
							index->rd_index->indisunique && !unchanged ?
							UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							unchanged, ii);
	}
	return NIL;
}

/*
 * Replace the head row oldtup with its new version, last_seq, update_time
 * and (when new_state is not NULL) state, as an UPDATE would: BEFORE row
 * triggers, constraints, the tuple update, index entries, AFTER row
 * triggers.  The caller holds the session lock, so under READ COMMITTED
 * nobody else can have changed the row; under REPEATABLE READ or
 * SERIALIZABLE our snapshot may be older than the last change, and that is
 * a serialization failure.
 */
void
ss_update_head(SsTable *t, HeapTuple oldtup, const SessionHead *head,
			   Jsonb *new_state)
{
	ResultRelInfo *rri = t->rri;
	EState	   *estate = t->estate;
	Relation	rel = t->rel;
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = t->slot;
	ItemPointerData tid = oldtup->t_self;
	TM_Result	result;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	SS_UPDATE_INDEXES_TYPE update_indexes;
	List	   *recheck = NIL;

	CheckWritable(t);
	ExecClearTuple(slot);
	heap_deform_tuple(oldtup, desc, slot->tts_values, slot->tts_isnull);
	for (int i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->attisdropped)
			slot->tts_isnull[i] = true;
	slot->tts_values[t->attnums[S_VERSION - 1] - 1] = Int64GetDatum(head->version);
	slot->tts_values[t->attnums[S_LAST_SEQ - 1] - 1] = Int64GetDatum(head->last_seq);
	slot->tts_values[t->attnums[S_UPDATE_TIME - 1] - 1] = TimestampTzGetDatum(head->update_time);
	if (new_state != NULL)
		slot->tts_values[t->attnums[S_STATE - 1] - 1] = JsonbPGetDatum(new_state);
	ExecStoreVirtualTuple(slot);
	estate->es_output_cid = GetCurrentCommandId(true);

	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_update_before_row)
	{
		if (!t->epq_active)
		{
			SS_EPQ_INIT(&t->epqstate, estate);
			t->epq_active = true;
		}
		if (!SS_EXEC_BR_UPDATE_TRIGGERS(estate, &t->epqstate, rri, &tid, slot))
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on session_store.sessions skipped the update of a session"),
					 errdetail("Triggers on session_store.sessions must not cancel the extension's updates.")));
		CheckTriggerKeptHead(t, slot, head);
	}

	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, slot, CMD_UPDATE);
	if (rel->rd_att->constr)
		ExecConstraints(rri, slot, estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(rri, slot, estate, true);

	result = table_tuple_update(rel, &tid, slot, estate->es_output_cid,
								estate->es_snapshot, InvalidSnapshot,
								true, &tmfd, &lockmode, &update_indexes);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			/* as the executor reports it (ExecUpdate) */
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent %s",
							result == TM_Updated ? "update" : "delete")));
			break;
		case TM_SelfModified:
			/* a trigger of this call changed the row first */
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("session head was changed by a trigger during its own update")));
			break;
		default:
			elog(ERROR, "unexpected table_tuple_update status: %u", result);
	}

	if (rri->ri_NumIndices > 0 && SS_UPDATE_NEEDS_INDEXES(update_indexes))
		recheck = InsertHeadIndexEntries(t, slot, estate, update_indexes);
	ExecARUpdateTriggers(estate, rri, NULL, NULL, &tid, NULL, slot, recheck,
						 NULL, false);
	list_free(recheck);
}

/* How many messages go to table_multi_insert at once. */
#define INSERT_BATCH 1000

/*
 * The elements of a JSON array of messages as jsonb Datums, in order: done
 * before the session lock is taken, to keep the copying out of it.
 */
Datum *
ss_prepare_messages(Jsonb *messages, int n)
{
	Datum	   *out = palloc(sizeof(Datum) * Max(n, 1));
	JsonbIterator *it = JsonbIteratorInit(&messages->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			i = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			out[i++] = JsonbPGetDatum(JsonbValueToJsonb(&v));
	Assert(i == n);
	return out;
}

/* Whether two text values hold the same bytes. */
static bool
TextBytesEqual(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)) == 0;
}

/*
 * The defaults of the columns an insert into t does not name, into slot,
 * except for the columns of skip (attnums, nskip of them): the insert sets
 * those.
 */
static void
FillDefaults(SsTable *t, TupleTableSlot *slot, const AttrNumber *skip,
			 int nskip)
{
	ExprContext *econtext = GetPerTupleExprContext(t->estate);

	for (int d = 0; d < t->ndefaults; d++)
	{
		int			i = t->default_attnums[d] - 1;
		bool		named = false;

		for (int k = 0; k < nskip; k++)
			named |= skip[k] == t->default_attnums[d];
		if (!named)
			slot->tts_values[i] = ExecEvalExpr(t->defaults[d], econtext,
											   &slot->tts_isnull[i]);
	}
}

/*
 * Insert the row in slot, which went through the BEFORE INSERT row
 * triggers (if any), as ExecSimpleRelationInsert does from there on:
 * generated columns, constraints, the tuple, its index entries, the AFTER
 * row triggers.
 */
static void
InsertTriggeredRow(SsTable *t, TupleTableSlot *slot)
{
	ResultRelInfo *rri = t->rri;
	EState	   *estate = t->estate;
	Relation	rel = t->rel;
	List	   *recheck = NIL;

	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(rri, slot, estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(rri, slot, estate, true);
	simple_table_tuple_insert(rel, slot);
	if (rri->ri_NumIndices > 0)
		recheck = SS_INSERT_INDEX_TUPLES(rri, slot, estate, false,
										 SS_UPDATE_INDEXES_ALL);
	ExecARInsertTriggers(estate, rri, slot, recheck, NULL);
	list_free(recheck);
}

/* Fill slot with the message row (user_id, sid, seq, message, create_time). */
static void
FillMessage(SsTable *t, TupleTableSlot *slot, text *user_id, int64 sid,
			int64 seq, Datum message, TimestampTz create_time)
{
	TupleDesc	desc = RelationGetDescr(t->rel);

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	slot->tts_values[t->attnums[M_USER_ID - 1] - 1] = PointerGetDatum(user_id);
	slot->tts_values[t->attnums[M_SID - 1] - 1] = Int64GetDatum(sid);
	slot->tts_values[t->attnums[M_SEQ - 1] - 1] = Int64GetDatum(seq);
	slot->tts_values[t->attnums[M_MESSAGE - 1] - 1] = message;
	slot->tts_values[t->attnums[M_CREATE_TIME - 1] - 1] = TimestampTzGetDatum(create_time);
	for (int c = 0; c < M_NATTS; c++)
		slot->tts_isnull[t->attnums[c] - 1] = false;
	FillDefaults(t, slot, NULL, 0);
	ExecStoreVirtualTuple(slot);
}

/*
 * 09000 unless a message row that went through the BEFORE INSERT row
 * triggers (slot) still has the key it was given: the call reports the
 * sequence numbers it assigned, and the head's last_seq already says they
 * are taken.  The message and any other column are the triggers' to
 * change.
 */
static void
CheckTriggerKeptMessage(SsTable *t, TupleTableSlot *slot, text *user_id,
						int64 sid, int64 seq)
{
	static const int kept[] = {M_USER_ID, M_SID, M_SEQ};
	bool		isnull;

	for (int k = 0; k < lengthof(kept); k++)
	{
		Datum		d = slot_getattr(slot, t->attnums[kept[k] - 1], &isnull);
		bool		same;

		if (isnull)
			same = false;
		else if (kept[k] == M_USER_ID)
			same = TextBytesEqual(DatumGetTextPP(d), user_id);
		else
			same = DatumGetInt64(d) == (kept[k] == M_SID ? sid : seq);
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on session_store.messages changed column \"%s\" of a message",
							messages_columns[kept[k] - 1].name),
					 errdetail("Triggers on session_store.messages must leave user_id, sid and seq as the extension sets them.")));
	}
}

/*
 * Insert one message row (slot, filled by FillMessage) through the BEFORE
 * INSERT row triggers, as ExecSimpleRelationInsert does, except that a
 * trigger may not skip the row (09000) nor change its key: the call would
 * report a message it did not store.
 */
static void
InsertMessageThroughTriggers(SsTable *t, TupleTableSlot *slot,
							 text *user_id, int64 sid, int64 seq)
{
	if (!ExecBRInsertTriggers(t->estate, t->rri, slot))
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("a trigger on session_store.messages skipped the insert of a message"),
				 errdetail("Triggers on session_store.messages must not cancel the extension's inserts.")));
	CheckTriggerKeptMessage(t, slot, user_id, sid, seq);
	InsertTriggeredRow(t, slot);
}

/*
 * Insert n messages (jsonb Datums from ss_prepare_messages) as rows
 * (user_id, sid, first_seq + i, message i, create_time), as an INSERT
 * would.  Several at once go to table_multi_insert, then their index
 * entries and AFTER triggers, as COPY does, unless a BEFORE row trigger
 * (which may change each row) asks for one at a time.
 */
void
ss_insert_messages(SsTable *t, text *user_id, int64 sid, int64 first_seq,
				   Datum *messages, int n, TimestampTz create_time)
{
	ResultRelInfo *rri = t->rri;
	EState	   *estate = t->estate;
	Relation	rel = t->rel;
	TupleTableSlot **slots;
	int			nslots;

	CheckWritable(t);
	estate->es_output_cid = GetCurrentCommandId(true);
	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_insert_before_row)
	{
		for (int i = 0; i < n; i++)
		{
			FillMessage(t, t->slot, user_id, sid, first_seq + i, messages[i],
						create_time);
			InsertMessageThroughTriggers(t, t->slot, user_id, sid,
										 first_seq + i);
			ResetPerTupleExprContext(estate);
		}
		return;
	}
	if (n == 1)
	{
		FillMessage(t, t->slot, user_id, sid, first_seq, messages[0],
					create_time);
		ExecSimpleRelationInsert(rri, estate, t->slot);
		ResetPerTupleExprContext(estate);
		return;
	}

	nslots = Min(n, INSERT_BATCH);
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int i = 0; i < nslots; i++)
		slots[i] = table_slot_create(rel, &estate->es_tupleTable);

	for (int done = 0; done < n; done += nslots)
	{
		int			fill = Min(nslots, n - done);

		for (int i = 0; i < fill; i++)
		{
			FillMessage(t, slots[i], user_id, sid, first_seq + done + i,
						messages[done + i], create_time);
			if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
				ExecComputeStoredGenerated(rri, estate, slots[i], CMD_INSERT);
			if (rel->rd_att->constr)
				ExecConstraints(rri, slots[i], estate);
			if (rel->rd_rel->relispartition)
				ExecPartitionCheck(rri, slots[i], estate, true);
			ResetPerTupleExprContext(estate);
		}
		table_multi_insert(rel, slots, fill, estate->es_output_cid, 0, NULL);
		for (int i = 0; i < fill; i++)
		{
			List	   *recheck = NIL;

			if (rri->ri_NumIndices > 0)
				recheck = SS_INSERT_INDEX_TUPLES(rri, slots[i], estate, false,
												 SS_UPDATE_INDEXES_ALL);
			ExecARInsertTriggers(estate, rri, slots[i], recheck, NULL);
			list_free(recheck);
			ResetPerTupleExprContext(estate);
			ExecClearTuple(slots[i]);
		}
	}
}

/*
 * Idempotency keys of append_messages and replace_messages.
 *
 * The key is looked up by the idempotency_keys primary key under the
 * session lock, on the snapshot the head was read on (ss_locked_snapshot:
 * what the previous holder committed is visible, as it was to the SPI
 * statement this replaces), and stored as an INSERT would store it.  The
 * columns are those the SQL of each version names: 1.0's seven, with 1.1
 * (with_digest) request_digest and removed too; operation is read, never
 * written (NULL, or its default, is an append's key).
 */

/* Whether idempotency_keys (t) has column col (the optional ones vary). */
bool
ss_keys_table_has(SsTable *t, SsKeyColumn col)
{
	return t->attnums[K_FIRST_SEQ - 1 + col] != InvalidAttrNumber;
}

/* The attnum of key column col, 42703 if the table does not have it. */
static AttrNumber
KeyAttnum(SsTable *t, SsKeyColumn col)
{
	int			c = K_FIRST_SEQ - 1 + col;

	if (t->attnums[c] == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table session_store.idempotency_keys does not exist",
						keys_columns[c].name)));
	return t->attnums[c];
}

/*
 * Look up key idem_key of session (user_id, sid) on snapshot snap; true and
 * its columns in *row (in the current memory context; operation NULL when
 * the table has none, the 1.1 columns NULL unless with_digest) if found.
 */
bool
ss_fetch_key(SsTable *t, text *user_id, int64 sid, text *idem_key,
			 bool with_digest, Snapshot snap, SsKeyRow *row)
{
	ScanKeyData keys[3];
	HeapTuple	tuple;
	TupleDesc	desc = RelationGetDescr(t->rel);

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   t->pkey->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(user_id));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   t->pkey->rd_indcollation[1], F_INT8EQ,
						   Int64GetDatum(sid));
	ScanKeyEntryInitialize(&keys[2], 0, 3, BTEqualStrategyNumber, InvalidOid,
						   t->pkey->rd_indcollation[2], F_TEXTEQ,
						   PointerGetDatum(idem_key));
	tuple = FetchByPrimaryKey(t, keys, snap);
	if (tuple == NULL)
		return false;
	for (int c = 0; c < KC_NCOLUMNS; c++)
	{
		row->values[c] = (Datum) 0;
		row->nulls[c] = true;
		if (c >= KC_REQUEST_DIGEST && !with_digest)
			continue;
		if (c == KC_OPERATION && !ss_keys_table_has(t, KC_OPERATION))
			continue;
		row->values[c] = heap_getattr(tuple, KeyAttnum(t, c), desc,
									  &row->nulls[c]);
	}
	return true;
}

/*
 * 09000 unless a key row that went through the BEFORE INSERT row triggers
 * still belongs to the session and the key it was stored for: a retry
 * would not find it.
 */
static void
CheckTriggerKeptKey(SsTable *t, TupleTableSlot *slot, text *user_id,
					int64 sid, text *idem_key)
{
	static const int kept[] = {K_USER_ID, K_SID, K_IDEM_KEY};
	bool		isnull;

	for (int k = 0; k < lengthof(kept); k++)
	{
		Datum		d = slot_getattr(slot, t->attnums[kept[k] - 1], &isnull);
		bool		same;

		if (isnull)
			same = false;
		else if (kept[k] == K_SID)
			same = DatumGetInt64(d) == sid;
		else
			same = TextBytesEqual(DatumGetTextPP(d),
								  kept[k] == K_USER_ID ? user_id : idem_key);
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on session_store.idempotency_keys changed column \"%s\" of a key",
							keys_columns[kept[k] - 1].name),
					 errdetail("Triggers on session_store.idempotency_keys must leave user_id, sid and idempotency_key as the extension sets them.")));
	}
}

/*
 * Store key idem_key of session (user_id, sid) with the columns of row,
 * as the INSERT of 1.0 (first_seq .. update_time) or, with_digest, of 1.1
 * (and request_digest, removed) would: other columns get their defaults;
 * BEFORE and AFTER row triggers, constraints and every index as for the
 * messages.  A BEFORE trigger may not skip the row or move it to another
 * key (09000).  A key stored twice is the primary key's 23505.
 */
void
ss_insert_key(SsTable *t, text *user_id, int64 sid, text *idem_key,
			  bool with_digest, const SsKeyRow *row)
{
	TupleTableSlot *slot = t->slot;
	TupleDesc	desc = RelationGetDescr(t->rel);
	int			ncols = with_digest ? KC_OPERATION : KC_REQUEST_DIGEST;
	AttrNumber	named[KC_NCOLUMNS];

	CheckWritable(t);
	t->estate->es_output_cid = GetCurrentCommandId(true);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	slot->tts_values[t->attnums[K_USER_ID - 1] - 1] = PointerGetDatum(user_id);
	slot->tts_values[t->attnums[K_SID - 1] - 1] = Int64GetDatum(sid);
	slot->tts_values[t->attnums[K_IDEM_KEY - 1] - 1] = PointerGetDatum(idem_key);
	for (int k = K_USER_ID; k <= K_IDEM_KEY; k++)
		slot->tts_isnull[t->attnums[k - 1] - 1] = false;
	for (int c = 0; c < ncols; c++)
	{
		AttrNumber	a = KeyAttnum(t, c);

		named[c] = a;
		slot->tts_values[a - 1] = row->values[c];
		slot->tts_isnull[a - 1] = row->nulls[c];
	}
	FillDefaults(t, slot, named, ncols);
	ExecStoreVirtualTuple(slot);

	if (t->rri->ri_TrigDesc && t->rri->ri_TrigDesc->trig_insert_before_row)
	{
		if (!ExecBRInsertTriggers(t->estate, t->rri, slot))
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on session_store.idempotency_keys skipped the insert of a key"),
					 errdetail("Triggers on session_store.idempotency_keys must not cancel the extension's inserts.")));
		CheckTriggerKeptKey(t, slot, user_id, sid, idem_key);
	}
	InsertTriggeredRow(t, slot);
	ResetPerTupleExprContext(t->estate);
	ExecClearTuple(slot);
}
