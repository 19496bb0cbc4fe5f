/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The differences between PostgreSQL major versions that the C code
 *	  meets, in one place.  Each is named after the version that made it
 *	  and the PostgreSQL source it comes from; the code calls the SS_*
 *	  forms only.  PostgreSQL 15 is the tested target; older versions are
 *	  not supported.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SESSION_STORE_COMPAT_H
#define SESSION_STORE_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "session_store needs PostgreSQL 15 or later"
#endif

/*
 * 18: pg_attribute_noreturn() is gone; pg_noreturn goes before the
 * declaration (src/include/c.h, "pg_noreturn").
 */
#if PG_VERSION_NUM >= 180000
#define SS_NORETURN_BEFORE pg_noreturn
#define SS_NORETURN_AFTER
#else
#define SS_NORETURN_BEFORE
#define SS_NORETURN_AFTER pg_attribute_noreturn()
#endif

/*
 * 18: RelationGetPrimaryKeyIndex(Relation, bool deferrable_ok)
 * (src/backend/utils/cache/relcache.c).  A deferrable primary key is not
 * the one a key lookup may trust, so false.
 */
#if PG_VERSION_NUM >= 180000
#define SS_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define SS_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * 18: expandRTE takes the VarReturningType of the Vars it makes
 * (src/backend/parser/parse_relation.c; RETURNING OLD/NEW): the default.
 */
#if PG_VERSION_NUM >= 180000
#define SS_EXPAND_RTE(rte, rtindex, up, loc, dropped, names, vars) \
	expandRTE((rte), (rtindex), (up), VAR_RETURNING_DEFAULT, (loc), (dropped), \
			  (names), (vars))
#else
#define SS_EXPAND_RTE(rte, rtindex, up, loc, dropped, names, vars) \
	expandRTE((rte), (rtindex), (up), (loc), (dropped), (names), (vars))
#endif

/*
 * 18: index_beginscan(heap, index, snapshot, IndexScanInstrumentation *,
 * nkeys, norderbys) (src/backend/access/index/indexam.c).
 */
#if PG_VERSION_NUM >= 180000
#define SS_INDEX_BEGINSCAN(heap, index, snap, nkeys, norderbys) \
	index_beginscan((heap), (index), (snap), NULL, (nkeys), (norderbys))
#else
#define SS_INDEX_BEGINSCAN(heap, index, snap, nkeys, norderbys) \
	index_beginscan((heap), (index), (snap), (nkeys), (norderbys))
#endif

/*
 * 16: permissions moved from RangeTblEntry to RTEPermissionInfo, and
 * ExecInitRangeTable takes the list of them (src/backend/executor/
 * execUtils.c; worker.c's create_edata_for_relation adds one with
 * addRTEPermissionInfo).  18: ExecInitRangeTable also takes the set of
 * range-table indexes that survived pruning: all of them here.
 */
#if PG_VERSION_NUM >= 160000
#define SS_RTE_ADD_PERMS(rte, perminfos, perms) \
	(addRTEPermissionInfo(&(perminfos), (rte))->requiredPerms = (perms))
#define SS_RTE_SET_COLUMNS(estate, rti, inserted, updated, extra) \
	do { \
		RTEPermissionInfo *perminfo_ = \
			getRTEPermissionInfo((estate)->es_rteperminfos, \
								 exec_rt_fetch((rti), (estate))); \
		perminfo_->insertedCols = (inserted); \
		perminfo_->updatedCols = (updated); \
		(void) (extra); \
	} while (0)
#else
#define SS_RTE_ADD_PERMS(rte, perminfos, perms) \
	((void) (perminfos), (rte)->requiredPerms = (perms))
#define SS_RTE_SET_COLUMNS(estate, rti, inserted, updated, extra) \
	do { \
		RangeTblEntry *rte_ = exec_rt_fetch((rti), (estate)); \
		rte_->insertedCols = (inserted); \
		rte_->updatedCols = (updated); \
		rte_->extraUpdatedCols = (extra); \
	} while (0)
#endif

#if PG_VERSION_NUM >= 180000
#define SS_INIT_RANGE_TABLE(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos), \
					   bms_add_range(NULL, 1, list_length(rtable)))
#elif PG_VERSION_NUM >= 160000
#define SS_INIT_RANGE_TABLE(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos))
#else
#define SS_INIT_RANGE_TABLE(estate, rtable, perminfos) \
	((void) (perminfos), ExecInitRangeTable((estate), (rtable)))
#endif

/*
 * 17: CheckValidResultRel takes the MERGE actions; 18: and the ON CONFLICT
 * action (src/include/executor/executor.h of 18.6, the 18 compiled here;
 * 15's later minor releases carry it as CheckValidResultRelNew, so an
 * early 18 minor may still have the 17 form).
 */
#if PG_VERSION_NUM >= 180000
#define SS_CHECK_VALID_RESULT_REL(rri, op) \
	CheckValidResultRel((rri), (op), ONCONFLICT_NONE, NIL)
#elif PG_VERSION_NUM >= 170000
#define SS_CHECK_VALID_RESULT_REL(rri, op) CheckValidResultRel((rri), (op), NIL)
#else
#define SS_CHECK_VALID_RESULT_REL(rri, op) CheckValidResultRel((rri), (op))
#endif

/*
 * 16: EvalPlanQualInit takes the result relations (src/backend/executor/
 * execMain.c); NIL as in worker.c.
 */
#if PG_VERSION_NUM >= 160000
#define SS_EPQ_INIT(epq, estate) EvalPlanQualInit((epq), (estate), NULL, NIL, -1, NIL)
#else
#define SS_EPQ_INIT(epq, estate) EvalPlanQualInit((epq), (estate), NULL, NIL, -1)
#endif

/*
 * 16: ExecBRUpdateTriggers reports the TM_Result of locking the old row;
 * 18: and is told whether it runs for MERGE (src/include/commands/
 * trigger.h of 16.2 and 18.6; 15's later minor releases carry the first
 * as ExecBRUpdateTriggersNew).
 */
#if PG_VERSION_NUM >= 180000
#define SS_EXEC_BR_UPDATE_TRIGGERS(estate, epq, rri, tid, slot) \
	ExecBRUpdateTriggers((estate), (epq), (rri), (tid), NULL, (slot), NULL, NULL, false)
#elif PG_VERSION_NUM >= 160000
#define SS_EXEC_BR_UPDATE_TRIGGERS(estate, epq, rri, tid, slot) \
	ExecBRUpdateTriggers((estate), (epq), (rri), (tid), NULL, (slot), NULL, NULL)
#else
#define SS_EXEC_BR_UPDATE_TRIGGERS(estate, epq, rri, tid, slot) \
	ExecBRUpdateTriggers((estate), (epq), (rri), (tid), NULL, (slot), NULL)
#endif

/*
 * 16: table_tuple_update says which indexes need new entries with a
 * TU_UpdateIndexes (none, all, or only the summarizing ones after a HOT
 * update), and ExecInsertIndexTuples takes onlySummarizing
 * (src/include/access/tableam.h, src/backend/executor/execIndexing.c).
 */
#if PG_VERSION_NUM >= 160000
#define SS_UPDATE_INDEXES_TYPE TU_UpdateIndexes
#define SS_UPDATE_INDEXES_ALL TU_All
#define SS_UPDATE_NEEDS_INDEXES(u) ((u) != TU_None)
#define SS_INSERT_INDEX_TUPLES(rri, slot, estate, update, u) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL, \
						  (u) == TU_Summarizing)
#else
#define SS_UPDATE_INDEXES_TYPE bool
#define SS_UPDATE_INDEXES_ALL true
#define SS_UPDATE_NEEDS_INDEXES(u) (u)
#define SS_INSERT_INDEX_TUPLES(rri, slot, estate, update, u) \
	((void) (u), ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL))
#endif

/*
 * 16: an index entry after a HOT update only for summarizing indexes
 * (IndexInfo.ii_Summarizing, src/backend/executor/execIndexing.c).
 */
#if PG_VERSION_NUM >= 160000
#define SS_INDEX_WANTED(ii, u) ((u) != TU_Summarizing || (ii)->ii_Summarizing)
#else
#define SS_INDEX_WANTED(ii, u) ((void) (u), true)
#endif

/*
 * 17: index_insert_cleanup after the last index_insert of a statement
 * (src/backend/access/index/indexam.c; ExecCloseIndices calls it).
 */
#if PG_VERSION_NUM >= 170000
#define SS_INDEX_INSERT_CLEANUP(index, ii) index_insert_cleanup((index), (ii))
#else
#define SS_INDEX_INSERT_CLEANUP(index, ii) ((void) (index), (void) (ii))
#endif

#endif							/* SESSION_STORE_COMPAT_H */
