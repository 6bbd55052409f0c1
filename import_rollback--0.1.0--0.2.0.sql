/* import_rollback--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION import_rollback UPDATE TO '0.2.0'" to load this file. \quit

-- Every object this script creates or changes is created the same way by
-- import_rollback--0.2.0.sql; test/t/004_upgrade.pl checks that an updated
-- database and a fresh 0.2.0 install hold the same objects.

-- Are two values the same datum, bit for bit (NULL = NULL)?  The test the
-- change-log trigger logs writes with, for the SQL of rollbacks.
CREATE FUNCTION import_rollback.ir_same(a anyelement, b anyelement)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ir_same'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
