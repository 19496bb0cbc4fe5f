/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  Heap and index access for the hot path: the session head and the
 *	  message log, without the executor.
 *
 * An append does three things to storage: find the session head by primary
 * key, update it, insert the messages.  Through SPI each is a statement with
 * its own executor start-up and shutdown, which costs more than the storage
 * work itself and, because the session lock is held until commit, lengthens
 * the critical section that bounds a hot session.  Here they are done the
 * way PostgreSQL's own catalog code does them (CatalogTupleUpdate): an index
 * scan, heap_update or heap_insert/heap_multi_insert, then index_insert into
 * every index of the table.
 *
 * What the executor would otherwise do, and where it is done here:
 *	- relation locks: RowExclusiveLock on the table and its indexes for
 *	  writes (AccessShareLock to read), held to the end of the transaction;
 *	- read-only transactions and hot standby: PreventCommandIfReadOnly;
 *	- snapshots: the caller's for readers; for a writer that holds the
 *	  session lock, one that sees what the previous holder committed (see
 *	  ss_read_head in head.c);
 *	- concurrent update of the head (only possible under REPEATABLE READ or
 *	  SERIALIZABLE, whose snapshot can be older than the last holder's
 *	  commit): 40001, as the executor raises it;
 *	- index maintenance: every index that is ready for inserts, unique ones
 *	  checked immediately; none after a HOT update; the "unchanged" hint for
 *	  an index none of whose columns changed (bottom-up deletion);
 *	- TOAST, WAL, logical decoding, statistics, predicate locks: inside
 *	  heapam and the index AM, as for any caller.
 * Triggers, rules, and expression, partial or deferrable indexes are not
 * supported on the extension's tables (they are private to it); opening a
 * table that has one is an error rather than a silent bypass.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/heapam.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* Columns of session_store.sessions and .messages (checked on open). */
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

static const char *const sessions_columns[] = {
	"app_name", "user_id", "session_id", "sid", "state", "version",
	"last_seq", "create_time", "update_time"
};
static const char *const messages_columns[] = {
	"user_id", "sid", "seq", "message", "create_time"
};

static const struct
{
	const char *name;
	const char *const *columns;
	int			natts;
}			table_defs[SS_NUM_TABLES] = {
	[SS_SESSIONS] = {"sessions", sessions_columns, S_NATTS},
	[SS_MESSAGES] = {"messages", messages_columns, M_NATTS},
};

/*
 * Relation OIDs, looked up once per backend and forgotten on any relcache
 * invalidation (the extension dropped and created again, say).
 */
static Oid	table_oids[SS_NUM_TABLES];

static void
ForgetTableOids(Datum arg, Oid relid)
{
	bool		ours = !OidIsValid(relid);

	for (int i = 0; i < SS_NUM_TABLES; i++)
		ours |= relid == table_oids[i];
	if (ours)
	{
		memset(table_oids, 0, sizeof(table_oids));
		ss_forget_extension();
	}
}

static Oid
TableOid(SsTableId which)
{
	static bool callback_registered = false;

	if (!OidIsValid(table_oids[which]))
	{
		const SsExtension *ext = ss_extension();
		Oid			relid = get_relname_relid(table_defs[which].name, ext->nspoid);

		if (!OidIsValid(relid) ||
			getExtensionOfObject(RelationRelationId, relid) != ext->extoid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table session_store.%s is not a member of extension \"session_store\"",
							table_defs[which].name)));
		if (!callback_registered)
		{
			CacheRegisterRelcacheCallback(ForgetTableOids, (Datum) 0);
			callback_registered = true;
		}
		table_oids[which] = relid;
	}
	return table_oids[which];
}

/* Raise an error if rel is not laid out as this file expects. */
static void
CheckTableShape(Relation rel, SsTableId which)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (desc->natts != table_defs[which].natts)
		elog(ERROR, "table session_store.%s has an unexpected layout",
			 table_defs[which].name);
	for (int i = 0; i < desc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname),
				   table_defs[which].columns[i]) != 0)
			elog(ERROR, "table session_store.%s has an unexpected layout",
				 table_defs[which].name);
	if (rel->trigdesc != NULL || rel->rd_rules != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("triggers and rules on session_store.%s are not supported",
						table_defs[which].name)));
}

/*
 * Open one of the tables for this call: to write (RowExclusiveLock on it and
 * all its indexes) or to read (AccessShareLock on it and its primary key).
 * The handles stay open until ss_call_end; the locks until commit.
 */
SsTable *
ss_table(SsCall *call, SsTableId which, bool for_write)
{
	SsTable    *t = &call->tables[which];
	LOCKMODE	mode = for_write ? RowExclusiveLock : AccessShareLock;
	MemoryContext old;
	List	   *indexes;
	ListCell   *lc;
	Oid			pkoid;
	int			i = 0;

	if (t->rel != NULL && (t->for_write || !for_write))
		return t;
	if (t->rel != NULL)
		ss_table_close(t);		/* reopen for writing */

	if (for_write)
	{
		PreventCommandIfReadOnly("a session_store write");
		PreventCommandIfParallelMode("a session_store write");
	}

	old = MemoryContextSwitchTo(call->callcxt);
	t->rel = table_open(TableOid(which), mode);
	CheckTableShape(t->rel, which);
	t->for_write = for_write;
	indexes = RelationGetIndexList(t->rel);
	/*
	 * Taken now: each index_open below may process invalidations and
	 * rebuild t->rel's cache entry, which forgets rd_pkindex until the
	 * index list is read again.
	 */
	pkoid = RelationGetPrimaryKeyIndex(t->rel);
	t->indexes = palloc0(sizeof(Relation) * Max(list_length(indexes), 1));
	t->infos = palloc0(sizeof(IndexInfo *) * Max(list_length(indexes), 1));
	t->pkey = NULL;
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	index;
		IndexInfo  *info;

		if (!for_write && indexoid != pkoid)
			continue;
		index = index_open(indexoid, mode);
		info = BuildIndexInfo(index);
		if (info->ii_Expressions != NIL || info->ii_Predicate != NIL ||
			info->ii_ExclusionOps != NULL || !index->rd_index->indimmediate)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" on session_store.%s is not supported",
							RelationGetRelationName(index), table_defs[which].name),
					 errdetail("Only immediate indexes on plain columns can be added to the extension's tables.")));
		if (indexoid == pkoid)
			t->pkey = index;
		t->indexes[i] = index;
		t->infos[i] = info;
		i++;
	}
	t->nindexes = i;
	if (t->pkey == NULL)
		elog(ERROR, "table session_store.%s has no primary key", table_defs[which].name);
	MemoryContextSwitchTo(old);
	return t;
}

/* Close a table opened by ss_table; its locks stay until commit. */
void
ss_table_close(SsTable *t)
{
	if (t->rel == NULL)
		return;
	for (int i = 0; i < t->nindexes; i++)
		index_close(t->indexes[i], NoLock);
	table_close(t->rel, NoLock);
	t->rel = NULL;
	t->nindexes = 0;
}

/*
 * Insert the index entries of heap tuple tup (already stored, t_self set)
 * into every index of t that is ready for inserts.  modified: the table's
 * columns an UPDATE changed (NULL for an INSERT), for the "unchanged" hint.
 */
static void
InsertIndexEntries(SsTable *t, HeapTuple tup, TupleTableSlot *slot,
				   const bool *modified)
{
	ExecStoreHeapTuple(tup, slot, false);
	for (int i = 0; i < t->nindexes; i++)
	{
		IndexInfo  *info = t->infos[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		bool		unchanged = modified != NULL;

		if (!info->ii_ReadyForInserts)
			continue;
		for (int k = 0; modified != NULL && k < info->ii_NumIndexAttrs; k++)
			if (modified[info->ii_IndexAttrNumbers[k]])
				unchanged = false;
		FormIndexDatum(info, slot, NULL, values, isnull);
		/*
		 * An entry whose columns an UPDATE did not change cannot break
		 * uniqueness: the row had those values already.
		 */
		(void) index_insert(t->indexes[i], values, isnull, &tup->t_self,
							t->rel,
							t->indexes[i]->rd_index->indisunique && !unchanged ?
							UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							unchanged, info);
	}
	ExecClearTuple(slot);
}

/*
 * Find the head row of a session through the sessions primary key, on
 * snapshot snap.  Returns a copy of the row (t_self set), or NULL.
 */
HeapTuple
ss_fetch_head(SsTable *t, const SessionKey *key, Snapshot snap)
{
	ScanKeyData keys[3];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	HeapTuple	tuple = NULL;
	Oid			collation = TupleDescAttr(RelationGetDescr(t->rel), S_APP_NAME - 1)->attcollation;

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   collation, F_TEXTEQ, PointerGetDatum(key->app_name));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   collation, F_TEXTEQ, PointerGetDatum(key->user_id));
	ScanKeyEntryInitialize(&keys[2], 0, 3, BTEqualStrategyNumber, InvalidOid,
						   collation, F_TEXTEQ, PointerGetDatum(key->session_id));

	slot = table_slot_create(t->rel, NULL);
	scan = index_beginscan(t->rel, t->pkey, snap, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
		tuple = ExecCopySlotHeapTuple(slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return tuple;
}

/* The head fields of a sessions row. */
void
ss_head_from_tuple(SsTable *t, HeapTuple tuple, SessionHead *head)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	bool		isnull;

	head->sid = DatumGetInt64(heap_getattr(tuple, S_SID, desc, &isnull));
	head->version = DatumGetInt64(heap_getattr(tuple, S_VERSION, desc, &isnull));
	head->last_seq = DatumGetInt64(heap_getattr(tuple, S_LAST_SEQ, desc, &isnull));
	head->update_time = DatumGetTimestampTz(heap_getattr(tuple, S_UPDATE_TIME, desc, &isnull));
}

/* The session-scoped state of a sessions row, detoasted. */
Jsonb *
ss_head_state(SsTable *t, HeapTuple tuple)
{
	bool		isnull;

	return DatumGetJsonbP(heap_getattr(tuple, S_STATE, RelationGetDescr(t->rel), &isnull));
}

/*
 * Replace the head row oldtup with its new version, last_seq, update_time
 * and (when new_state is not NULL) state.  The caller holds the session
 * lock, so under READ COMMITTED nobody else can have changed the row; under
 * REPEATABLE READ or SERIALIZABLE our snapshot may be older than the last
 * change, and that is a serialization failure.
 */
void
ss_update_head(SsTable *t, HeapTuple oldtup, const SessionHead *head,
			   Jsonb *new_state)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	Datum		values[S_NATTS];
	bool		isnull[S_NATTS];
	bool		modified[S_NATTS + 1] = {false};
	HeapTuple	newtup;
	TM_Result	result;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TupleTableSlot *slot;

	heap_deform_tuple(oldtup, desc, values, isnull);
	values[S_VERSION - 1] = Int64GetDatum(head->version);
	values[S_LAST_SEQ - 1] = Int64GetDatum(head->last_seq);
	values[S_UPDATE_TIME - 1] = TimestampTzGetDatum(head->update_time);
	modified[S_VERSION] = modified[S_LAST_SEQ] = modified[S_UPDATE_TIME] = true;
	if (new_state != NULL)
	{
		values[S_STATE - 1] = JsonbPGetDatum(new_state);
		modified[S_STATE] = true;
	}
	newtup = heap_form_tuple(desc, values, isnull);

	result = heap_update(t->rel, &oldtup->t_self, newtup,
						 GetCurrentCommandId(true), InvalidSnapshot,
						 true, &tmfd, &lockmode);
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
		default:
			elog(ERROR, "unexpected heap_update status: %u", result);
	}

	if (!HeapTupleIsHeapOnly(newtup))
	{
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		InsertIndexEntries(t, newtup, slot, modified);
		ExecDropSingleTupleTableSlot(slot);
	}
	heap_freetuple(newtup);
}

/* How many messages go to heap_multi_insert at once. */
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

/*
 * Insert n messages (jsonb Datums from ss_prepare_messages) as rows
 * (user_id, sid, first_seq + i, message i, create_time).
 */
void
ss_insert_messages(SsTable *t, text *user_id, int64 sid, int64 first_seq,
				   Datum *messages, int n, TimestampTz create_time)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	CommandId	cid = GetCurrentCommandId(true);
	TupleTableSlot **slots;
	TupleTableSlot *islot;
	int			nslots = Min(n, INSERT_BATCH);

	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	islot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

	for (int done = 0; done < n; done += nslots)
	{
		int			fill = Min(nslots, n - done);

		for (int i = 0; i < fill; i++)
		{
			Datum		values[M_NATTS];
			bool		isnull[M_NATTS] = {false};

			values[M_USER_ID - 1] = PointerGetDatum(user_id);
			values[M_SID - 1] = Int64GetDatum(sid);
			values[M_SEQ - 1] = Int64GetDatum(first_seq + done + i);
			values[M_MESSAGE - 1] = messages[done + i];
			values[M_CREATE_TIME - 1] = TimestampTzGetDatum(create_time);
			ExecStoreHeapTuple(heap_form_tuple(desc, values, isnull), slots[i], true);
		}
		if (fill == 1)
		{
			HeapTuple	tup = ExecFetchSlotHeapTuple(slots[0], false, NULL);

			heap_insert(t->rel, tup, cid, 0, NULL);
			InsertIndexEntries(t, tup, islot, NULL);
		}
		else
		{
			heap_multi_insert(t->rel, slots, fill, cid, 0, NULL);
			for (int i = 0; i < fill; i++)
			{
				HeapTuple	tup = ExecFetchSlotHeapTuple(slots[i], false, NULL);

				tup->t_self = slots[i]->tts_tid;
				InsertIndexEntries(t, tup, islot, NULL);
			}
		}
		for (int i = 0; i < fill; i++)
			ExecClearTuple(slots[i]);
	}
	for (int i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ExecDropSingleTupleTableSlot(islot);
}
