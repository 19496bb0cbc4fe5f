/*-------------------------------------------------------------------------
 *
 * state.c
 *	  State deltas: routing keys to their scope, and the merged view.
 *
 * A key "app:NAME" belongs to the app's state, "user:NAME" to the user's,
 * "temp:NAME" is dropped, anything else belongs to the session.  A JSON
 * null removes a key (unless the caller asked for nulls to be kept, as
 * 1.1's keep_nulls does); any other value replaces it wholesale.  The routed
 * delta is applied by SQL on the latest row version, (state - removed) ||
 * set, so concurrent deltas to different keys of one row never undo each
 * other.  Nothing here takes a lock.
 *
 * Only top-level keys are walked (iteratively); nested values are copied as
 * they are, and jsonb's own conversion guards its recursion.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

typedef struct ScopePrefix
{
	const char *prefix;
	int			len;
	int			scope;			/* a StateScope, or -1 to drop the key */
} ScopePrefix;

static const ScopePrefix scope_prefixes[] = {
	{"app:", 4, SCOPE_APP},
	{"user:", 5, SCOPE_USER},
	{"temp:", 5, -1},
};

/* The scope of a top-level key; strips the prefix from *key. */
static int
RouteKey(JsonbValue *key)
{
	for (int i = 0; i < lengthof(scope_prefixes); i++)
	{
		const ScopePrefix *p = &scope_prefixes[i];

		if (key->val.string.len >= p->len &&
			memcmp(key->val.string.val, p->prefix, p->len) == 0)
		{
			key->val.string.val += p->len;
			key->val.string.len -= p->len;
			return p->scope;
		}
	}
	return SCOPE_SESSION;
}

/* A new, empty JSON object. */
Jsonb *
ss_empty_object(void)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * Split delta (a JSON object, or NULL for no delta) by scope into *out.
 * Scopes the delta does not touch are left with touches[] false.  With
 * keep_nulls a JSON null is a value to store like any other; without it
 * (the 1.0 rule) it removes the key.
 */
void
ss_route_delta(Jsonb *delta, bool keep_nulls, StateDelta *out)
{
	JsonbParseState *set_state[NUM_SCOPES] = {NULL};
	ArrayBuildState *removed[NUM_SCOPES] = {NULL};
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	key;
	JsonbValue	v;

	memset(out, 0, sizeof(*out));
	if (delta == NULL)
		return;

	it = JsonbIteratorInit(&delta->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			scope;

		if (tok == WJB_KEY)
		{
			key = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		scope = RouteKey(&key);
		if (scope < 0)
			continue;
		out->touches[scope] = true;

		if (v.type == jbvNull && !keep_nulls)
		{
			text	   *name = cstring_to_text_with_len(key.val.string.val,
														key.val.string.len);

			removed[scope] = accumArrayResult(removed[scope],
											  PointerGetDatum(name), false,
											  TEXTOID, CurrentMemoryContext);
		}
		else
		{
			if (set_state[scope] == NULL)
				pushJsonbValue(&set_state[scope], WJB_BEGIN_OBJECT, NULL);
			pushJsonbValue(&set_state[scope], WJB_KEY, &key);
			pushJsonbValue(&set_state[scope], WJB_VALUE, &v);
		}
	}

	for (int scope = 0; scope < NUM_SCOPES; scope++)
	{
		if (!out->touches[scope])
			continue;
		if (set_state[scope] != NULL)
			out->set[scope] = JsonbValueToJsonb(pushJsonbValue(&set_state[scope],
															   WJB_END_OBJECT,
															   NULL));
		else
			out->set[scope] = ss_empty_object();
		if (removed[scope] != NULL)
			out->remove[scope] = makeArrayResult(removed[scope],
												 CurrentMemoryContext);
		else
			out->remove[scope] = PointerGetDatum(construct_empty_array(TEXTOID));
	}
}

/*
 * The XX001 for a state read back from session_store.table that is not a
 * JSON object.  The extension stores only objects there: anything else was
 * written around it, and is refused rather than shown as no keys or merged
 * into (an array || an object is an array).
 */
void
ss_state_not_object(const char *table)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("session_store.%s holds a state that is not a JSON object",
					table),
			 errdetail("The extension only stores JSON objects in this column; the row was written around it.")));
}

/* state, read back from session_store.table, or XX001 if not an object. */
Jsonb *
ss_checked_state(Jsonb *state, const char *table)
{
	if (!JB_ROOT_IS_OBJECT(state))
		ss_state_not_object(table);
	return state;
}

/*
 * Push every pair of container, a state read back from session_store.table,
 * into *ps, each key prefixed with prefix.
 */
static void
PushPrefixed(JsonbParseState **ps, Jsonb *container, const char *prefix,
			 const char *table)
{
	int			plen = strlen(prefix);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;

	if (container == NULL)
		return;
	ss_checked_state(container, table);
	it = JsonbIteratorInit(&container->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY && plen > 0)
		{
			char	   *name = palloc(plen + v.val.string.len);

			memcpy(name, prefix, plen);
			memcpy(name + plen, v.val.string.val, v.val.string.len);
			v.val.string.val = name;
			v.val.string.len += plen;
		}
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(ps, tok, &v);
	}
}

/*
 * The merged state a session shows: its own keys, plus the user's and the
 * app's keys with their prefixes put back.  Any argument may be NULL; one
 * that is not an object is XX001.
 */
Jsonb *
ss_merged_state(Jsonb *session_state, Jsonb *user_state, Jsonb *app_state)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PushPrefixed(&ps, session_state, "", "sessions");
	PushPrefixed(&ps, user_state, "user:", "user_states");
	PushPrefixed(&ps, app_state, "app:", "app_states");
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * The session state after a delta's session part: (state - remove) || set,
 * the same operators the shared states' upserts use.  state is the one read
 * back from session_store.sessions.
 */
Jsonb *
ss_apply_delta(Jsonb *state, Jsonb *set, Datum remove)
{
	Datum		d;

	ss_checked_state(state, "sessions");
	d = DirectFunctionCall2(jsonb_delete_array, JsonbPGetDatum(state), remove);
	d = DirectFunctionCall2(jsonb_concat, d, JsonbPGetDatum(set));
	return DatumGetJsonbP(d);
}

/*
 * Apply the user and app parts of a delta, in the lock order: the user's
 * row, then the app's.  Each is one INSERT ... ON CONFLICT DO UPDATE, so a
 * row that does not exist yet is created without a unique violation, and
 * an existing row is merged on its latest version under its row lock (under
 * REPEATABLE READ a row changed since the snapshot fails with 40001).  The
 * update applies only to a stored object (its WHERE): a row left unchanged
 * holds something else, XX001.  SPI must be connected.
 */
void
ss_apply_shared_deltas(const SessionKey *key, const StateDelta *delta)
{
	Datum		values[4];

	if (delta->touches[SCOPE_USER])
	{
		values[0] = PointerGetDatum(key->app_name);
		values[1] = PointerGetDatum(key->user_id);
		values[2] = JsonbPGetDatum(delta->set[SCOPE_USER]);
		values[3] = delta->remove[SCOPE_USER];
#ifdef SESSION_STORE_TEST_NO_UPSERT
		if (ss_exec(Q_USER_STATE_UPDATE, values, NULL, false) == 0)
			ss_exec(Q_USER_STATE_INSERT, values, NULL, false);
#else
		if (ss_exec(Q_USER_STATE_UPSERT, values, NULL, false) != 1)
			ss_state_not_object("user_states");
#endif
	}
	if (delta->touches[SCOPE_APP])
	{
		values[0] = PointerGetDatum(key->app_name);
		values[1] = JsonbPGetDatum(delta->set[SCOPE_APP]);
		values[2] = delta->remove[SCOPE_APP];
#ifdef SESSION_STORE_TEST_NO_UPSERT
		if (ss_exec(Q_APP_STATE_UPDATE, values, NULL, false) == 0)
			ss_exec(Q_APP_STATE_INSERT, values, NULL, false);
#else
		if (ss_exec(Q_APP_STATE_UPSERT, values, NULL, false) != 1)
			ss_state_not_object("app_states");
#endif
	}
}
