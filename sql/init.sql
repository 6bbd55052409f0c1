--
-- Install the extension and the targets the other suites use.
--
CREATE EXTENSION import_rollback;

-- the SQL surface
SELECT p.oid::regprocedure::text AS function, pg_catalog.pg_get_function_result(p.oid) AS returns
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'import_rollback'
 ORDER BY 1;

-- internal tables are extension config tables, so pg_dump keeps their rows
SELECT unnest(extconfig)::regclass::text AS config_table
  FROM pg_extension WHERE extname = 'import_rollback' ORDER BY 1;

-- and no ordinary role can write them
SELECT c.relname, c.relacl IS NULL OR NOT pg_catalog.aclcontains(c.relacl,
       makeaclitem(0, c.relowner, 'INSERT', false)) AS public_cannot_insert
  FROM pg_class c WHERE c.relnamespace = 'import_rollback'::regnamespace
   AND c.relkind = 'r' ORDER BY 1;

-- view ir_batches has the contract columns first
SELECT attnum, attname FROM pg_attribute
 WHERE attrelid = 'ir_batches'::regclass AND attnum BETWEEN 1 AND 15 ORDER BY attnum;

CREATE TABLE customers (
    id          integer PRIMARY KEY,
    name        text,
    email       text
);
