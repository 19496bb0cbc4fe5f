/*
 * Privileges: nothing for PUBLIC.  The API functions are SECURITY DEFINER
 * (they run as the owner, who alone may touch the tables); an
 * administrator grants USAGE on the schema and EXECUTE on the functions.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA session_store FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA session_store FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA session_store FROM PUBLIC;
