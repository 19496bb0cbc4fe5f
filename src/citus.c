/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Distributed mode: which storage path a call takes, and the guard that
 *	  keeps a NULL distribution argument away from Citus.
 *
 * When Citus is installed and the extension's tables are distributed
 * (session_store.distribute()), the tables in this database are shells: the
 * rows live in shards, on this node or on another one.  The direct heap
 * path (direct.c) and the advisory session lock (lock.c) would then work on
 * the wrong rows and serialize nothing across nodes.  So every call first
 * asks ss_citus_mode(), and in distributed mode:
 *
 *	- every statement goes through SPI with a plan Citus can route: custom
 *	  plans, so that Citus sees the distribution column (user_id) as a
 *	  constant and sends the statement to the one shard that holds it
 *	  (store.c, ss_plan);
 *	- the session lock is the row lock on the session's head, taken where
 *	  the head lives (UPDATE ... RETURNING, head.c), so a call delegated to
 *	  a worker and one run from the coordinator exclude each other, and a
 *	  shard move waits for the call or the call for the move;
 *	- creates are INSERT ... ON CONFLICT DO NOTHING, expiry skips locked
 *	  heads (SKIP LOCKED), and sid is a random key kept unique per user by
 *	  a unique index (session.c, expire.c).
 *
 * The decision is read from the catalog (pg_dist_partition) once per
 * backend and dropped on any relcache invalidation of the extension's
 * tables, which Citus sends when it distributes or undistributes a table.
 * A call takes the decision once, at its start (ss_call_begin), and keeps
 * it to its end.
 *
 * The planner guard.  Citus delegates a call of a distributed function to
 * the node holding the shard of its distribution argument, and hashes that
 * argument while planning, without checking it for NULL: a NULL user_id
 * would crash the backend before the function could report 22004.  The
 * guard runs before Citus's planner (session_store is preloaded after
 * citus) and raises the function's own 22004 for exactly the statements
 * Citus would delegate: SELECT f(...) or SELECT ... FROM f(...), no WHERE,
 * whose user_id is NULL once constants and bound parameters are folded in.
 * Citus reads the distribution argument by position from the call as the
 * planner leaves it: named and mixed notation put in positional order, the
 * defaults filled in (expand_function_arguments).  The guard resolves the
 * call the same way before it looks at user_id, so every notation is
 * covered.  Calls with a NULL user_id never reach Citus's delegation.
 *
 * Composed calls.  Citus delegates SELECT ... FROM f(...) whole, whatever
 * else the statement holds, and sends the worker the statement as the
 * planner has rewritten it: a subquery (SELECT ... FROM g(...)) in the
 * target list, HAVING or LIMIT has become a parameter of an init plan or a
 * SubPlan there, which the worker cannot read ("there is no parameter
 * $0").  For such a statement the guard wraps f(...) in a subquery the
 * planner keeps as it is (OFFSET 0), the same rows in the same columns:
 * Citus then leaves the statement to the coordinator, which runs each call
 * as it runs calls inside BEGIN ... COMMIT, every statement of theirs
 * routed to the user's shard.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* The tables distribute() distributes. */
static const char *const ss_table_names[] = {
	"sessions", "messages", "idempotency_keys", "user_states", "app_states"
};
#define SS_NUM_DIST_TABLES lengthof(ss_table_names)

typedef enum SsModeState
{
	MODE_UNKNOWN = 0,
	MODE_LOCAL,
	MODE_CITUS
} SsModeState;

static SsModeState cached_mode = MODE_UNKNOWN;
static Oid	mode_table_oids[SS_NUM_DIST_TABLES];

/* the mode of the call under way, set by ss_call_begin */
bool		ss_in_citus_mode = false;

/* true when _PG_init ran from shared_preload_libraries: the guard is in */
static bool guard_installed = false;
static planner_hook_type prev_planner_hook = NULL;

static void
ForgetMode(Datum arg, Oid relid)
{
	if (cached_mode == MODE_UNKNOWN)
		return;
	if (!OidIsValid(relid))
	{
		cached_mode = MODE_UNKNOWN;
		return;
	}
	for (int i = 0; i < SS_NUM_DIST_TABLES; i++)
		if (relid == mode_table_oids[i])
			cached_mode = MODE_UNKNOWN;
}

/*
 * How many of the extension's tables pg_dist_partition lists.  It is not a
 * system catalog, so the catalog snapshot is not renewed when it changes:
 * it is read on a snapshot taken now, which also sees what this
 * transaction did (distribute() followed by calls, in one transaction).
 */
static int
CountDistributedTables(Oid distpart)
{
	Relation	rel = table_open(distpart, AccessShareLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	int			n = 0;

	for (int i = 0; i < SS_NUM_DIST_TABLES; i++)
	{
		ScanKeyData key;
		SysScanDesc scan;

		if (!OidIsValid(mode_table_oids[i]))
			continue;
		/* logicalrelid is pg_dist_partition's first column */
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(mode_table_oids[i]));
		scan = systable_beginscan(rel, InvalidOid, false, snap, 1, &key);
		if (HeapTupleIsValid(systable_getnext(scan)))
			n++;
		systable_endscan(scan);
	}
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return n;
}

static SsModeState
DetectMode(void)
{
	static bool callback_registered = false;
	const SsExtension *ext = ss_extension();
	Oid			distpart;
	int			n;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(ForgetMode, (Datum) 0);
		callback_registered = true;
	}
	for (int i = 0; i < SS_NUM_DIST_TABLES; i++)
		mode_table_oids[i] = get_relname_relid(ss_table_names[i], ext->nspoid);

	if (!OidIsValid(get_extension_oid("citus", true)))
		return MODE_LOCAL;
	distpart = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(distpart))
		return MODE_LOCAL;

	n = CountDistributedTables(distpart);
	if (n == 0)
		return MODE_LOCAL;
	if (n != SS_NUM_DIST_TABLES)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("only some tables of extension \"session_store\" are distributed"),
				 errdetail("%d of its %d tables are Citus tables.", n,
						   (int) SS_NUM_DIST_TABLES),
				 errhint("Undistribute them, or distribute all of them with session_store.distribute().")));
	if (!guard_installed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session_store is distributed but was not loaded through shared_preload_libraries"),
				 errdetail("Distributed calls need the module loaded after citus on every node."),
				 errhint("Set shared_preload_libraries = 'citus,session_store' on every node and restart them.")));
	return MODE_CITUS;
}

/* Whether this database runs session_store on Citus (see the top). */
bool
ss_citus_mode(void)
{
	if (cached_mode == MODE_UNKNOWN)
	{
		SsModeState mode = DetectMode();

		cached_mode = mode;
	}
	return cached_mode == MODE_CITUS;
}

/*
 * The functions whose second argument, user_id, is their distribution
 * argument and must not be NULL.  list_sessions and count_sessions take an
 * optional user_id and are not delegated.
 */
static const char *const guarded_functions[] = {
	"create_session", "get_session", "delete_session", "append_messages",
	"replace_messages", "get_messages", "pop_message", "rewind_session",
	"clear_session", "fork_session", "get_user_state"
};

/*
 * Whether arg, a call's argument, is a NULL value as Citus will see it:
 * Citus looks at the query after the planner has folded its constant
 * expressions (with the bound parameters of a custom plan), so
 * NULLIF('a', 'a') or a NULL parameter are a NULL constant there too.
 */
static bool
ArgIsNull(Node *arg, ParamListInfo params)
{
	PlannerGlobal glob;
	PlannerInfo root;

	MemSet(&glob, 0, sizeof(glob));
	glob.type = T_PlannerGlobal;
	glob.boundParams = params;
	MemSet(&root, 0, sizeof(root));
	root.type = T_PlannerInfo;
	root.glob = &glob;
	arg = eval_const_expressions(&root, copyObject(arg));
	arg = strip_implicit_coercions(arg);
	if (IsA(arg, Const))
		return ((Const *) arg)->constisnull;
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN &&
		params != NULL)
	{
		int			id = ((Param *) arg)->paramid;
		ParamExternData workspace;
		ParamExternData *p;

		if (id <= 0 || id > params->numParams)
			return false;
		if (params->paramFetch != NULL)
			p = params->paramFetch(params, id, false, &workspace);
		else
			p = &params->params[id - 1];
		return p != NULL && OidIsValid(p->ptype) && p->isnull;
	}
	return false;
}

/* Whether fexpr calls one of the guarded session_store functions. */
static bool
IsGuardedCall(FuncExpr *fexpr)
{
	Oid			nsp = get_func_namespace(fexpr->funcid);
	char	   *name;

	if (!OidIsValid(nsp) || nsp != get_namespace_oid("session_store", true))
		return false;
	name = get_func_name(fexpr->funcid);
	if (name == NULL)
		return false;
	for (int i = 0; i < lengthof(guarded_functions); i++)
		if (strcmp(name, guarded_functions[i]) == 0)
			return true;
	return false;
}

/*
 * The argument fexpr passes as its user_id, as Citus will read it: the
 * call's arguments in positional order with the defaults filled in, as the
 * planner rewrites them (named, mixed or positional notation alike), and
 * user_id's position among the function's input parameters.  NULL if the
 * function has no such parameter.
 */
static Node *
UserIdArgument(FuncExpr *fexpr)
{
	HeapTuple	proc;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			nargs;
	int			pos = -1;
	int			in = 0;
	List	   *args;

	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fexpr->funcid));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "cache lookup failed for function %u", fexpr->funcid);
	nargs = get_func_arg_info(proc, &types, &names, &modes);
	for (int i = 0; i < nargs && pos < 0; i++)
	{
		/* a FuncExpr's arguments are the input parameters only */
		if (modes != NULL &&
			(modes[i] == PROARGMODE_OUT || modes[i] == PROARGMODE_TABLE))
			continue;
		if (names != NULL && strcmp(names[i], "user_id") == 0)
			pos = in;
		in++;
	}
	args = expand_function_arguments(fexpr->args, false,
									 fexpr->funcresulttype, proc);
	ReleaseSysCache(proc);
	if (pos < 0 || pos >= list_length(args))
		return NULL;
	return (Node *) list_nth(args, pos);
}

/* 22004 if fexpr calls a guarded session_store function with user_id NULL. */
static void
GuardCall(FuncExpr *fexpr, ParamListInfo params)
{
	Node	   *user_id;

	if (!IsGuardedCall(fexpr))
		return;
	user_id = UserIdArgument(fexpr);
	if (user_id != NULL && ArgIsNull(user_id, params))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", "user_id")));
}

/*
 * Make rte, the only item of a statement's FROM list, a call of a function,
 * the subquery SELECT <its columns> FROM <that call> OFFSET 0: the same rows
 * and columns, and a subquery the planner does not pull up, so Citus does
 * not delegate the statement (see the top of the file).
 */
static void
FenceFunctionScan(RangeTblEntry *rte)
{
	Query	   *sub = makeNode(Query);
	RangeTblEntry *call = copyObject(rte);
	RangeTblRef *ref = makeNode(RangeTblRef);
	List	   *colnames;
	List	   *colvars;
	ListCell   *ln;
	ListCell   *lv;
	AttrNumber	attno = 1;

	/* dropped columns too, so that the outer Vars' numbers stay right */
	SS_EXPAND_RTE(call, 1, 0, -1, true, &colnames, &colvars);
	sub->commandType = CMD_SELECT;
	sub->querySource = QSRC_ORIGINAL;
	sub->canSetTag = true;
	sub->rtable = list_make1(call);
	ref->rtindex = 1;
	sub->jointree = makeFromExpr(list_make1(ref), NULL);
	forboth(ln, colnames, lv, colvars)
		sub->targetList = lappend(sub->targetList,
								  makeTargetEntry((Expr *) lfirst(lv), attno++,
												  pstrdup(strVal(lfirst(ln))),
												  false));
	sub->limitOffset = (Node *) makeConst(INT8OID, -1, InvalidOid,
										  sizeof(int64), Int64GetDatum(0),
										  false, FLOAT8PASSBYVAL);
	sub->limitOption = LIMIT_OPTION_COUNT;
	sub->hasSubLinks = checkExprHasSubLink((Node *) call->functions);

	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = sub;
	rte->functions = NIL;
	rte->funcordinality = false;
	rte->lateral = false;
}

/*
 * Whether Citus would delegate parse, whose FROM list is rte alone, whole
 * with a subquery in it: a call of ours in FROM and a subquery, on a
 * distributed installation (see the top of the file).
 */
static bool
DelegatedWithSubquery(Query *parse, RangeTblEntry *rte)
{
	RangeTblFunction *rtf;

	if (!parse->hasSubLinks || list_length(rte->functions) != 1)
		return false;
	rtf = linitial_node(RangeTblFunction, rte->functions);
	return IsA(rtf->funcexpr, FuncExpr) &&
		IsGuardedCall((FuncExpr *) rtf->funcexpr) &&
		OidIsValid(get_extension_oid("session_store", true)) &&
		ss_citus_mode();
}

/*
 * Before Citus plans a statement of the shape it delegates, refuse a call
 * of ours with a NULL user_id, and fence a call of ours that a subquery
 * accompanies (see the top of the file).
 */
static PlannedStmt *
GuardPlanner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	if (parse->commandType == CMD_SELECT && parse->jointree != NULL &&
		parse->jointree->quals == NULL &&
		list_length(parse->jointree->fromlist) <= 1)
	{
		ListCell   *lc;

		foreach(lc, parse->targetList)
		{
			TargetEntry *te = lfirst_node(TargetEntry, lc);

			if (IsA(te->expr, FuncExpr))
				GuardCall((FuncExpr *) te->expr, boundParams);
		}
		if (list_length(parse->jointree->fromlist) == 1 &&
			IsA(linitial(parse->jointree->fromlist), RangeTblRef))
		{
			RangeTblRef *ref = linitial(parse->jointree->fromlist);
			RangeTblEntry *rte = rt_fetch(ref->rtindex, parse->rtable);

			if (rte->rtekind == RTE_FUNCTION)
			{
				foreach(lc, rte->functions)
				{
					RangeTblFunction *rtf = lfirst_node(RangeTblFunction, lc);

					if (IsA(rtf->funcexpr, FuncExpr))
						GuardCall((FuncExpr *) rtf->funcexpr, boundParams);
				}
				if (DelegatedWithSubquery(parse, rte))
					FenceFunctionScan(rte);
			}
		}
	}
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * From _PG_init: when loaded through shared_preload_libraries (after citus,
 * whose planner hook this one then runs before), install the guard.
 */
void
ss_citus_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_planner_hook = planner_hook;
	planner_hook = GuardPlanner;
	guard_installed = true;
}
