/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Argument checks shared by the SQL-callable functions.
 *
 * Every argument is checked before anything is locked or written, with the
 * SQLSTATE the contract names: 22004 for a NULL where a value is required,
 * 22023 for a value of the wrong shape or size.  Only the top level of a
 * JSON value is inspected here, iteratively, so no nesting depth can exhaust
 * the stack.
 *
 *-------------------------------------------------------------------------
 */
#include "session_store.h"

/* Raise 22004 if argument argno is NULL. */
void
ss_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/* Check an identifier's length: 1..SS_MAX_ID_BYTES bytes. */
static inline void
CheckIdLength(text *t, const char *argname)
{
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be empty", argname)));
	if (len > SS_MAX_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" is too long", argname),
				 errdetail("It is %d bytes long; the limit is %d bytes.",
						   len, SS_MAX_ID_BYTES)));
}

/* An optional identifier argument; NULL when the argument is NULL. */
text *
ss_arg_id_or_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	CheckIdLength(t, argname);
	return t;
}

/* A required identifier argument. */
text *
ss_arg_id(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	ss_require_arg(fcinfo, argno, argname);
	return ss_arg_id_or_null(fcinfo, argno, argname);
}

/* The (app_name, user_id, session_id) that every session function takes first. */
void
ss_arg_session_key(FunctionCallInfo fcinfo, SessionKey *key)
{
	key->app_name = ss_arg_id(fcinfo, 0, "app_name");
	key->user_id = ss_arg_id(fcinfo, 1, "user_id");
	key->session_id = ss_arg_id(fcinfo, 2, "session_id");
}

/* An optional JSON object argument (a state or a state delta). */
Jsonb *
ss_arg_object_or_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	Jsonb	   *jb;

	if (PG_ARGISNULL(argno))
		return NULL;
	jb = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a JSON object", argname)));
	return jb;
}

/*
 * An optional trailing boolean argument added in 1.1: dflt when the SQL
 * declaration of the function (a database still at 1.0) does not have it;
 * 22004 when it is NULL.
 */
bool
ss_arg_bool(FunctionCallInfo fcinfo, int argno, const char *argname, bool dflt)
{
	if (PG_NARGS() <= argno)
		return dflt;
	ss_require_arg(fcinfo, argno, argname);
	return PG_GETARG_BOOL(argno);
}

/* The messages argument of append_messages: see ss_arg_message_array. */
Jsonb *
ss_arg_messages(FunctionCallInfo fcinfo, int argno, int *nmessages)
{
	return ss_arg_message_array(fcinfo, argno, "messages", nmessages);
}

/*
 * A required argument of messages to store: a JSON array (possibly empty)
 * whose elements are all JSON objects, within
 * session_store.max_batch_messages elements of
 * session_store.max_message_size bytes each.  Sets *nmessages to the
 * array length.
 */
Jsonb *
ss_arg_message_array(FunctionCallInfo fcinfo, int argno, const char *argname,
					 int *nmessages)
{
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	ss_require_arg(fcinfo, argno, argname);
	jb = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a JSON array of objects", argname)));
	if (JB_ROOT_COUNT(jb) > ss_max_batch_messages)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many messages in one call"),
				 errdetail("The batch has %u messages; session_store.max_batch_messages is %d.",
						   JB_ROOT_COUNT(jb), ss_max_batch_messages),
				 errhint("Append in smaller batches, or raise session_store.max_batch_messages.")));

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		n++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must be a JSON array of objects", argname),
					 errdetail("The element at index %d is not a JSON object.", n - 1)));
		if (v.val.binary.len > ss_max_message_size)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("message at index %d is too large", n - 1),
					 errdetail("It is %d bytes as jsonb; session_store.max_message_size is %d bytes.",
							   v.val.binary.len, ss_max_message_size),
					 errhint("Store large payloads elsewhere and keep a reference in the message, or raise session_store.max_message_size.")));
	}
	*nmessages = n;
	return jb;
}
