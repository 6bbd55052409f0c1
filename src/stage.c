/*-------------------------------------------------------------------------
 *
 * stage.c
 *	  Raw staging: every file becomes a batch whose rows land, exactly as
 *	  the file gave them, in the batch's own staging table.
 *
 *	  ir_stage(target, source_name, data, options)   CSV passed as text
 *	  ir_stage_file(target, path, options)            server-side file
 *	  ir_stage_large_object(target, name, loid, options)
 *	                                                  a client's upload, as a
 *	                                                  large object
 *	  ir_stage_begin / ir_stage_copy_command / ir_stage_finish
 *	                                                  client path: COPY FROM STDIN
 *
 * CSV is parsed by PostgreSQL's own COPY machinery: BeginCopyFrom() with a
 * data-source callback, then NextCopyFromRawFields() for each record, so
 * quoting, escapes, the null marker, CRLF and encodings behave exactly as
 * in COPY, and a record with the wrong number of fields is seen as such
 * instead of aborting the load.  The callback also measures the file and
 * feeds SHA-256 as the bytes go by; a UTF-8 byte order mark is hashed but
 * not parsed.
 *
 * Staging table import_rollback.stage_<batch>:
 *	  row_no   bigint   1-based number of the data record (header excluded)
 *	  status   text     NULL, 'malformed' (wrong field count, at staging) or
 *	                    'rejected' (by the last validation)
 *	  errors   text[]   every reason a row was rejected
 *	  extra    text[]   fields beyond the header's count, kept, never lost
 *	  c1..cN   text     the fields, byte-exact; NULL only for COPY's null marker
 * Column names are positional: headers are data (import_rollback.batch_column),
 * never identifiers.
 *
 * Rows are inserted with table_multi_insert() and a BulkInsertState, as
 * COPY does.  Parsing runs in one subtransaction per chunk of rows, with
 * no writes inside it: when the parser fails (unterminated quote, invalid
 * byte sequence), the subtransaction is rolled back, the rows already read
 * are kept, the batch becomes "failed" naming the record, and ir_stage
 * returns the batch id with a WARNING.  Errors that are not about the
 * file's contents (cancel, out of memory, ...) are re-thrown untouched.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "common/cryptohash.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/fd.h"
#include "libpq/be-fsstubs.h"
#include "libpq/libpq-fs.h"
#include "storage/large_object.h"
#include "utils/fmgrprotos.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/portal.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "compat.h"
#include "exec.h"
#include "guards.h"
#include "ops.h"
#include "options.h"
#include "storage.h"
#include "target.h"

/* Rows buffered per multi-insert, and per parsing subtransaction. */
#define STAGE_CHUNK_ROWS 1000
#define STAGE_CHUNK_BYTES (1024 * 1024)

/* Where COPY's parser reads from: a memory buffer or an open file. */
typedef struct IrSource
{
	const char *data;			/* memory source */
	size_t		len;
	size_t		pos;
	FILE	   *file;			/* file source */
	const char *path;
	int			lo_fd;			/* large object source (be-fsstubs.c), or -1 */
	bool		strip_bom;		/* skip a leading UTF-8 BOM */
	bool		started;		/* first block already read */
	pg_cryptohash_ctx *sha;		/* NULL: not hashing this pass */
	int64		bytes;			/* bytes read (hashed) so far */
	bool		eof_seen;		/* a read found the end of the source */
} IrSource;

/* COPY's data-source callback takes no argument: the source in use. */
static IrSource *current_source = NULL;

/* State of one staging run. */
typedef struct StageRun
{
	CopyFromState cstate;
	Relation	rel;
	int			ncols;			/* data columns: fields per record */
	TupleTableSlot **slots;
	int			nbuffered;
	size_t		bytes_buffered;
	MemoryContext rowcxt;		/* datums of buffered rows */
	BulkInsertState bistate;
	CommandId	cid;
	int			insert_options;	/* table_multi_insert()'s */
	int64		rows;			/* records read */
	int64		rejected;		/* records with the wrong field count */
	bool		eof;
	ErrorData  *error;			/* parse error that ended the run */
} StageRun;

/* ---------------------------------------------------------------------
 * The data source
 * ---------------------------------------------------------------------
 */

static int
source_read(void *outbuf, int minread, int maxread)
{
	IrSource   *src = current_source;
	int			n;

	if (src->file)
	{
		n = (int) fread(outbuf, 1, maxread, src->file);
		if (ferror(src->file))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", src->path)));
	}
	else if (src->lo_fd >= 0)
		n = lo_read(src->lo_fd, outbuf, maxread);
	else
	{
		n = (int) Min((size_t) maxread, src->len - src->pos);
		memcpy(outbuf, src->data + src->pos, n);
		src->pos += n;
	}

	if (src->sha && n > 0 &&
		pg_cryptohash_update(src->sha, (uint8 *) outbuf, n) < 0)
		elog(ERROR, "could not update SHA-256 context");
	src->bytes += n;
	if (n == 0)
		src->eof_seen = true;

	if (!src->started)
	{
		src->started = true;
		if (src->strip_bom && n >= 3 &&
			memcmp(outbuf, "\xEF\xBB\xBF", 3) == 0)
		{
			memmove(outbuf, (char *) outbuf + 3, n - 3);
			n -= 3;
		}
	}
	return n;
}

/* Go back to the first byte, for a second pass. */
static void
source_rewind(IrSource *src)
{
	if (src->file)
	{
		if (fseeko(src->file, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not seek in file \"%s\": %m", src->path)));
	}
	if (src->lo_fd >= 0)
		(void) DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(src->lo_fd), Int64GetDatum(0),
								   Int32GetDatum(SEEK_SET));
	src->pos = 0;
	src->started = false;
	src->bytes = 0;
	src->eof_seen = false;
}

/* Hash whatever the parser did not read, after it stopped early. */
static void
source_drain(IrSource *src)
{
	char		buf[65536];
	int			n;

	current_source = src;
	src->started = true;		/* no BOM stripping: nobody parses this */
	while ((n = source_read(buf, 1, sizeof(buf))) > 0)
		;
}

/* ---------------------------------------------------------------------
 * COPY options
 * ---------------------------------------------------------------------
 */

static void
add_copy_option(List **list, Jsonb *options, const char *key)
{
	char	   *val = ir_option_string(options, key);

	if (val != NULL)
		*list = lappend(*list, makeDefElem(pstrdup(key), (Node *) makeString(val), -1));
}

/*
 * COPY options for a batch's CSV dialect.  Headers are handled here, not
 * by COPY, so "header" is never passed.  A text argument is already in
 * the database encoding, so its encoding is forced to that.
 */
static List *
copy_options(Jsonb *options, IrLoadMethod method)
{
	List	   *list = list_make1(makeDefElem("format", (Node *) makeString("csv"), -1));

	add_copy_option(&list, options, "delimiter");
	add_copy_option(&list, options, "quote");
	add_copy_option(&list, options, "escape");
	add_copy_option(&list, options, "null");
	if (method == IR_LOAD_DATA)
		list = lappend(list, makeDefElem("encoding",
										 (Node *) makeString(pstrdup(GetDatabaseEncodingName())), -1));
	else
		add_copy_option(&list, options, "encoding");
	return list;
}

/* Does the file declare (or default to) UTF-8?  Then a BOM is skipped. */
static bool
file_is_utf8(Jsonb *options, IrLoadMethod method)
{
	char	   *enc = ir_option_string(options, "encoding");

	if (method == IR_LOAD_DATA)
		return GetDatabaseEncoding() == PG_UTF8;
	if (enc != NULL)
		return pg_char_to_encoding(enc) == PG_UTF8;
	return pg_get_client_encoding() == PG_UTF8;
}

static bool
option_header(Jsonb *options)
{
	return ir_option_bool(options, "header", true);
}

/* ---------------------------------------------------------------------
 * Staging tables and the column catalog
 * ---------------------------------------------------------------------
 */

/*
 * Keys the file's columns go by: the header itself, or column<N> where it
 * is empty or repeats an earlier header (or the file has no header).
 * Returns the keys; warns once about renamed columns.
 */
static char **
source_keys(char **headers, int ncols, bool have_header)
{
	char	  **keys = palloc(sizeof(char *) * ncols);
	StringInfoData renamed;
	int			nrenamed = 0;

	initStringInfo(&renamed);
	for (int i = 0; i < ncols; i++)
	{
		bool		dup = false;

		for (int j = 0; j < i && !dup; j++)
			dup = strcmp(headers[i], headers[j]) == 0;
		if (have_header && headers[i][0] != '\0' && !dup)
			keys[i] = headers[i];
		else
			keys[i] = NULL;
		if (have_header && keys[i] == NULL)
		{
			if (headers[i][0] == '\0')
				appendStringInfo(&renamed, "%scolumn %d (empty)",
								 nrenamed ? ", " : "", i + 1);
			else
				appendStringInfo(&renamed, "%scolumn %d (repeats \"%s\")",
								 nrenamed ? ", " : "", i + 1, headers[i]);
			nrenamed++;
		}
	}
	/* Positional keys, made unique against real headers. */
	for (int i = 0; i < ncols; i++)
	{
		int			suffix = 0;
		bool		taken;

		if (keys[i] != NULL)
			continue;
		keys[i] = psprintf("column%d", i + 1);
		do
		{
			taken = false;
			for (int j = 0; j < ncols && !taken; j++)
				taken = j != i && keys[j] != NULL && strcmp(keys[j], keys[i]) == 0;
			if (taken)
				keys[i] = psprintf("column%d_%d", i + 1, ++suffix);
		} while (taken);
	}
	if (nrenamed > 0)
		ereport(WARNING,
				(errmsg_plural("%d column header of the file is empty or repeated",
							   "%d column headers of the file are empty or repeated",
							   nrenamed, nrenamed),
				 errdetail("Such columns go by column<N> in mappings and reports: %s.",
						   renamed.data),
				 errhint("Rename the headers in the file, or map these columns by their column<N> names.")));
	return keys;
}

/* ---------------------------------------------------------------------
 * Parsing
 * ---------------------------------------------------------------------
 */

/* Errors that describe the file's contents, as opposed to the server's state. */
static bool
is_file_content_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_BAD_COPY_FILE_FORMAT ||
		sqlerrcode == ERRCODE_CHARACTER_NOT_IN_REPERTOIRE ||
		sqlerrcode == ERRCODE_UNTRANSLATABLE_CHARACTER ||
		sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION ||
		sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/* Add one parsed record to the insert buffer. */
static void
buffer_record(StageRun *run, char **fields, int nfields)
{
	TupleTableSlot *slot = run->slots[run->nbuffered];
	MemoryContext oldcxt = MemoryContextSwitchTo(run->rowcxt);
	Datum	   *values;
	bool	   *isnull;
	int			natts = IR_STAGE_FIXED_COLS + run->ncols;

	ExecClearTuple(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	memset(isnull, true, sizeof(bool) * natts);

	run->rows++;
	values[IR_STAGE_ROW_NO - 1] = Int64GetDatum(run->rows);
	isnull[IR_STAGE_ROW_NO - 1] = false;

	for (int i = 0; i < run->ncols && i < nfields; i++)
	{
		if (fields[i] != NULL)
		{
			size_t		len = strlen(fields[i]);

			values[IR_STAGE_FIELD(i + 1) - 1] = PointerGetDatum(cstring_to_text_with_len(fields[i], len));
			isnull[IR_STAGE_FIELD(i + 1) - 1] = false;
			run->bytes_buffered += len;
		}
	}

	if (nfields != run->ncols)
	{
		char	   *reason;

		if (nfields == 1 && fields[0] == NULL)
			reason = psprintf("empty line; expected %d fields", run->ncols);
		else
			reason = psprintf("row has %d field%s, expected %d", nfields,
							  nfields == 1 ? "" : "s", run->ncols);
		values[IR_STAGE_STATUS - 1] = CStringGetTextDatum("malformed");
		isnull[IR_STAGE_STATUS - 1] = false;
		values[IR_STAGE_ERRORS - 1] = ir_text_array(&reason, 1);
		isnull[IR_STAGE_ERRORS - 1] = false;
		if (nfields > run->ncols)
		{
			values[IR_STAGE_EXTRA - 1] = ir_text_array(fields + run->ncols, nfields - run->ncols);
			isnull[IR_STAGE_EXTRA - 1] = false;
		}
		run->rejected++;
	}

	ExecStoreVirtualTuple(slot);
	run->nbuffered++;
	MemoryContextSwitchTo(oldcxt);
}

/* Write the buffered rows to the staging table. */
static void
flush_records(StageRun *run)
{
	if (run->nbuffered == 0)
		return;
	table_multi_insert(run->rel, run->slots, run->nbuffered, run->cid,
					   run->insert_options, run->bistate);
	for (int i = 0; i < run->nbuffered; i++)
		ExecClearTuple(run->slots[i]);
	MemoryContextReset(run->rowcxt);
	run->nbuffered = 0;
	run->bytes_buffered = 0;
}

/*
 * Inside a subtransaction, so that a parse error can be caught: read one
 * record into *header_out / *nheader_out (-1 at end of file) in the header
 * pass, otherwise read records into the insert buffer until it is full or
 * the file ends.  A file-content error is kept in run->error and ends the
 * run; any other error propagates.
 */
static void
parse_chunk(StageRun *run, bool header_pass, char ***header_out, int *nheader_out)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		ErrorContextCallback errcallback;
		char	  **fields;
		int			nfields;

		errcallback.callback = CopyFromErrorCallback;
		errcallback.arg = (void *) run->cstate;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;

		if (header_pass)
		{
			if (NextCopyFromRawFields(run->cstate, &fields, &nfields))
			{
				char	  **copy = palloc(sizeof(char *) * nfields);

				for (int i = 0; i < nfields; i++)
					copy[i] = pstrdup(fields[i] ? fields[i] : "");
				*header_out = copy;
				*nheader_out = nfields;
			}
			else
				*nheader_out = -1;
		}
		else
		{
			while (run->nbuffered < STAGE_CHUNK_ROWS &&
				   run->bytes_buffered < STAGE_CHUNK_BYTES)
			{
				if (!NextCopyFromRawFields(run->cstate, &fields, &nfields))
				{
					run->eof = true;
					break;
				}
				buffer_record(run, fields, nfields);
			}
		}

		error_context_stack = errcallback.previous;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = ir_abort_subxact(oldcxt, oldowner);

		if (!is_file_content_error(edata->sqlerrcode))
			ReThrowError(edata);
		run->error = edata;
		run->eof = true;
	}
	PG_END_TRY();
}

/* Open COPY's parser on the staging table over the source. */
static CopyFromState
begin_parse(Relation rel, IrSource *src, List *copyopts)
{
	current_source = src;
	return BeginCopyFrom(NULL, rel, NULL, NULL, false, source_read, NIL, copyopts);
}

/* The text of a parse error for last_error: which record, and why. */
static char *
parse_error_text(const StageRun *run, bool header)
{
	ErrorData  *e = run->error;
	StringInfoData buf;

	initStringInfo(&buf);
	if (header)
		appendStringInfoString(&buf, "header: ");
	else
		appendStringInfo(&buf, "source row " INT64_FORMAT ": ", run->rows + 1);
	appendStringInfoString(&buf, e->message);
	if (e->context)
		appendStringInfo(&buf, " (%s)", e->context);
	return buf.data;
}

/*
 * Finish the file's SHA-256: hash what the parser did not read (it stopped
 * early), or the whole file when no pass hashed it (empty file, bad header).
 */
static void
hash_rest(IrSource *src, uint8 *sha)
{
	if (src->sha == NULL)
	{
		source_rewind(src);
		src->sha = pg_cryptohash_create(PG_SHA256);
		if (src->sha == NULL || pg_cryptohash_init(src->sha) < 0)
			elog(ERROR, "could not initialize SHA-256 context");
	}
	source_drain(src);
	if (pg_cryptohash_final(src->sha, sha, 32) < 0)
		elog(ERROR, "could not finalize SHA-256 context");
	pg_cryptohash_free(src->sha);
	src->sha = NULL;
}

/* Pass 2: every record into the staging table, hashing the file. */
static void
stage_records(StageRun *run, Oid stage_relid, IrSource *src, List *copyopts,
			  bool have_header)
{
	char	  **header;
	int			nheader;
	TupleDesc	desc;

	source_rewind(src);
	src->sha = pg_cryptohash_create(PG_SHA256);
	if (src->sha == NULL || pg_cryptohash_init(src->sha) < 0)
		elog(ERROR, "could not initialize SHA-256 context");

	run->rel = table_open(stage_relid, RowExclusiveLock);
	run->cid = GetCurrentCommandId(true);
	run->bistate = GetBulkInsertState();

	/*
	 * The rows go in frozen, as COPY FREEZE writes them, when its conditions
	 * hold: the table was created in this subtransaction (an abort removes it
	 * with its rows; the rows are written outside the parse subtransactions)
	 * and no other snapshot of this transaction (a cursor's, REPEATABLE
	 * READ's) could see them appear.  The validation's first scan then
	 * neither checks each row's visibility nor dirties every page setting
	 * hint bits.
	 */
	run->insert_options = TABLE_INSERT_SKIP_FSM;
	InvalidateCatalogSnapshot();
	if (run->rel->rd_createSubid == GetCurrentSubTransactionId() &&
		ThereAreNoPriorRegisteredSnapshots() && ThereAreNoReadyPortals())
		run->insert_options |= TABLE_INSERT_FROZEN;
	/* sized for a whole chunk, and kept across resets: no page faults per chunk */
	run->rowcxt = AllocSetContextCreate(CurrentMemoryContext,
										"import_rollback staging rows",
										2 * STAGE_CHUNK_BYTES, 2 * STAGE_CHUNK_BYTES,
										ALLOCSET_DEFAULT_MAXSIZE);
	run->slots = palloc(sizeof(TupleTableSlot *) * STAGE_CHUNK_ROWS);
	/* one unpinned descriptor for all the buffer's slots (see changelog.c) */
	desc = CreateTupleDescCopy(RelationGetDescr(run->rel));
	for (int i = 0; i < STAGE_CHUNK_ROWS; i++)
		run->slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	run->cstate = begin_parse(run->rel, src, copyopts);

	/* The header parsed in pass 1; it parses the same way now. */
	if (have_header)
		parse_chunk(run, true, &header, &nheader);
	while (!run->eof)
	{
		parse_chunk(run, false, NULL, NULL);
		flush_records(run);
	}
	EndCopyFrom(run->cstate);

	for (int i = 0; i < STAGE_CHUNK_ROWS; i++)
		ExecDropSingleTupleTableSlot(run->slots[i]);
	FreeBulkInsertState(run->bistate);
	table_finish_bulk_insert(run->rel, run->insert_options);
	table_close(run->rel, NoLock);
	MemoryContextDelete(run->rowcxt);
}

/*
 * Stage one file from src into a new batch on the target.  Returns the
 * batch id; the batch is "staged", or "failed" (*failed) when the parser
 * could not read the file to its end (rows read before the error are
 * kept).
 */
static int64
stage_source(Oid relid, const char *source_name, Jsonb *options,
			 IrSource *src, IrLoadMethod method, int64 source_bytes, bool *failed)
{
	IrTarget	target;
	List	   *copyopts;
	CopyFormatOptions fmt;
	int64		batch_id;
	StageRun	run;
	Oid			stage_relid;
	char	  **headers = NULL;
	int			ncols = -1;
	bool		have_header = option_header(options);
	uint8		sha[32];
	IrBatch    *batch;
	char	   *failure = NULL;

	ir_check_target(relid, options, method, &target);
	ir_guards_verify(relid, target.key_columns, options);
	copyopts = copy_options(options, method);
	memset(&fmt, 0, sizeof(fmt));
	ProcessCopyOptions(NULL, &fmt, true, copyopts);	/* COPY's own checks, early */
	src->strip_bom = file_is_utf8(options, method);

	/* The batch exists before a single row is read. */
	batch_id = ir_batch_create(&target, source_name, method, options, source_bytes, NULL);

	stage_relid = ir_store_create_stage(batch_id, -1, false);

	/* Pass 1: the header, or the first record's width. */
	memset(&run, 0, sizeof(run));
	run.rel = table_open(stage_relid, RowExclusiveLock);
	run.cstate = begin_parse(run.rel, src, copyopts);
	parse_chunk(&run, true, &headers, &ncols);
	EndCopyFrom(run.cstate);
	table_close(run.rel, NoLock);

	if (run.error)
		failure = parse_error_text(&run, true);
	else if (ncols < 0)
		failure = pstrdup("the file is empty");
	else if (ncols > IR_STAGE_MAX_COLS)
		failure = psprintf("the file has %d columns; at most %d are supported",
						   ncols, IR_STAGE_MAX_COLS);
	else
	{
		char	  **keys = source_keys(headers, ncols, have_header);

		ir_store_add_stage_fields(batch_id, have_header ? headers : keys, keys, ncols);

		run.ncols = ncols;
		stage_records(&run, stage_relid, src, copyopts, have_header);
		if (run.error)
			failure = parse_error_text(&run, false);
		else if (!src->eof_seen)
		{
			/*
			 * COPY's parser said "no more records" without reaching the end
			 * of the file: before PostgreSQL 18 an unquoted line "\." ends
			 * CSV data.  The rest of the file would be silently lost.
			 */
			failure = psprintf("source row " INT64_FORMAT ": a line \"\\.\" ends the data for COPY's CSV parser, "
							   "but the file goes on after it",
							   run.rows + 1);
		}
	}
	hash_rest(src, sha);

	ir_store_staging_result(batch_id, run.rows, run.rejected, src->bytes, sha);
	batch = ir_batch_fetch(batch_id, true, IR_ACCESS_LOAD);
	*failed = failure != NULL;
	if (failure)
	{
		ir_batch_transition(batch, IR_FAILED, failure);
		ereport(WARNING,
				(errmsg("could not stage all of \"%s\"; batch " INT64_FORMAT " failed",
						source_name, batch_id),
				 errdetail("%s", failure),
				 run.rows > 0 ?
				 errhint_plural("The " INT64_FORMAT " record read before the error is kept in the batch as evidence. "
								"Fix the file and stage it again.",
								"The " INT64_FORMAT " records read before the error are kept in the batch as evidence. "
								"Fix the file and stage it again.",
								run.rows, run.rows) :
				 errhint("Fix the file and stage it again.")));
	}
	else
	{
		ir_batch_transition(batch, IR_STAGED, NULL);
		ir_report_duplicate_file(batch);
	}
	return batch_id;
}

/* ---------------------------------------------------------------------
 * The ways a file arrives
 * ---------------------------------------------------------------------
 */

/* Stage CSV passed as text (already in the database encoding). */
int64
ir_stage_text(Oid relid, const char *source_name, const char *data, size_t len,
			  Jsonb *options)
{
	IrSource	src;
	bool		failed;

	memset(&src, 0, sizeof(src));
	src.lo_fd = -1;
	src.data = data;
	src.len = len;
	return stage_source(relid, source_name, options, &src, IR_LOAD_DATA, (int64) len, &failed);
}

/* Stage a file on the database server (the caller checked its right to). */
int64
ir_stage_server_file(Oid relid, const char *path, Jsonb *options)
{
	IrSource	src;
	struct stat st;
	int64		batch_id;
	bool		failed;

	memset(&src, 0, sizeof(src));
	src.lo_fd = -1;
	src.path = path;
	src.file = AllocateFile(path, PG_BINARY_R);
	if (src.file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path),
				 errhint("ir_stage_file reads files on the database server. "
						 "To send a file from the client, use ir_stage_begin() and COPY ... FROM STDIN.")));
	if (fstat(fileno(src.file), &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));

	batch_id = stage_source(relid, path, options, &src, IR_LOAD_FILE, (int64) st.st_size,
							&failed);
	FreeFile(src.file);
	return batch_id;
}

/*
 * Stage a file a client uploaded as a large object, read through COPY's
 * parser in chunks: memory stays bounded whatever its size.  Reading needs
 * SELECT on it (lo_open checks); with "unlink" (the default) the caller
 * must own it, checked before anything is staged, and it is removed once
 * the batch is staged.  A batch that failed keeps its large object: the
 * rows after the error are only there.
 */
int64
ir_stage_lo(Oid relid, const char *source_name, Oid loid, Jsonb *options)
{
	IrSource	src;
	bool		unlink;
	int64		size;
	int64		batch_id;
	bool		failed;

	ir_check_options(options, IR_IN_STAGE_LO, "ir_stage_large_object");
	unlink = ir_option_bool(options, "unlink", true);
	memset(&src, 0, sizeof(src));
	src.lo_fd = DatumGetInt32(DirectFunctionCall2(be_lo_open, ObjectIdGetDatum(loid),
												  Int32GetDatum(INV_READ)));
	if (unlink && !lo_compat_privileges && !ir_lo_ownercheck(loid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of large object %u to unlink it", loid),
				 errhint("Pass {\"unlink\": false} to stage it and leave it in place.")));
	size = DatumGetInt64(DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(src.lo_fd),
											 Int64GetDatum(0), Int32GetDatum(SEEK_END)));
	source_rewind(&src);

	batch_id = stage_source(relid, source_name, options, &src, IR_LOAD_LARGE_OBJECT, size,
							&failed);
	(void) DirectFunctionCall1(be_lo_close, Int32GetDatum(src.lo_fd));
	if (unlink && !failed)
		(void) DirectFunctionCall1(be_lo_unlink, ObjectIdGetDatum(loid));
	return batch_id;
}

/* Decode the client's "sha256" option (64 hex digits), or NULL. */
static uint8 *
client_sha256(Jsonb *options)
{
	char	   *hex = ir_option_string(options, "sha256");
	uint8	   *sha;

	if (hex == NULL)
		return NULL;
	sha = palloc(32);
	for (int i = 0; i < 32; i++)
	{
		char		byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};

		sha[i] = (uint8) strtol(byte, NULL, 16);
	}
	return sha;
}

/*
 * Client path, step 1: create the batch ("received") and its staging table
 * with one field per header, and let the caller INSERT into the fields.
 * Step 2 is the COPY statement that ir_stage_client_copy_command() gives,
 * run by the client with the file as STDIN; step 3 ir_stage_client_finish().
 */
int64
ir_stage_client_begin(Oid relid, const char *source_name, char **headers, int ncols,
					  Jsonb *options)
{
	IrTarget	target;
	int64		batch_id;
	int64		bytes = -1;
	JsonbValue *v;

	if (ncols > IR_STAGE_MAX_COLS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_COLUMNS),
				 errmsg("a file can have at most %d columns", IR_STAGE_MAX_COLS)));
	ir_check_target(relid, options, IR_LOAD_CLIENT, &target);
	ir_guards_verify(relid, target.key_columns, options);
	v = ir_option(options, "bytes");
	if (v != NULL && !ir_json_count(v, &bytes))
		elog(ERROR, "option \"bytes\" was not checked");

	batch_id = ir_batch_create(&target, source_name, IR_LOAD_CLIENT, options, bytes,
							   client_sha256(options));
	(void) ir_store_create_stage(batch_id, ncols, true);
	ir_store_add_stage_fields(batch_id, headers, source_keys(headers, ncols, true), ncols);
	return batch_id;
}

/* Append ", KEY 'value'" for a COPY option present in options. */
static void
append_copy_option(StringInfo buf, Jsonb *options, const char *key)
{
	char	   *val = ir_option_string(options, key);

	if (val != NULL)
		appendStringInfo(buf, ", %s %s", key, quote_literal_cstr(val));
}

/* Client path, step 2: the COPY ... FROM STDIN statement to run. */
char *
ir_stage_client_copy_command(IrBatch *batch)
{
	StringInfoData buf;
	int			ncols;

	(void) ir_store_source_keys(batch->batch_id, &ncols);
	initStringInfo(&buf);
	appendStringInfo(&buf, "COPY %s (%s) FROM STDIN WITH (format csv, header %s",
					 ir_stage_table(batch->batch_id),
					 ir_stage_fields_sql(ncols, NULL, ""),
					 option_header(batch->options) ? "true" : "false");
	append_copy_option(&buf, batch->options, "delimiter");
	append_copy_option(&buf, batch->options, "quote");
	append_copy_option(&buf, batch->options, "escape");
	append_copy_option(&buf, batch->options, "null");
	append_copy_option(&buf, batch->options, "encoding");
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * What the client declared of its file ("bytes", "expect_rows") that the
 * rows which arrived contradict, or NULL: a COPY that failed or never ran
 * must not pass for an empty file.
 */
static char *
client_upload_failure(Jsonb *options, int64 rows)
{
	int64		bytes = -1;
	int64		expect = -1;
	JsonbValue *v;

	if ((v = ir_option(options, "bytes")) != NULL)
		(void) ir_json_count(v, &bytes);	/* checked by options.c */
	if ((v = ir_option(options, "expect_rows")) != NULL)
		(void) ir_json_count(v, &expect);
	if (rows == 0 && bytes > 0)
		return psprintf("no rows arrived, but the client declared a file of " INT64_FORMAT " bytes: "
						"its COPY failed or was never run", bytes);
	if (expect >= 0 && rows != expect)
		return psprintf(INT64_FORMAT " rows arrived, but the client declared expect_rows " INT64_FORMAT,
						rows, expect);
	return NULL;
}

/*
 * Client path, last step: close the staging table to the loader, number
 * the rows, and move the batch to "staged", or to "failed" with a WARNING
 * when the rows contradict what the client declared (the batch is kept,
 * not rolled back by an error).  Returns the number of rows.
 */
int64
ir_stage_client_finish(IrBatch *batch)
{
	int64		rows = ir_store_finish_client(batch->batch_id);
	char	   *failure = client_upload_failure(batch->options, rows);

	ir_store_staging_result(batch->batch_id, rows, 0, -1, NULL);
	if (failure)
	{
		ir_batch_transition(batch, IR_FAILED, failure);
		ereport(WARNING,
				(errmsg("upload of batch " INT64_FORMAT " is incomplete; the batch failed", batch->batch_id),
				 errdetail("%s.", failure),
				 errhint("Check the client's COPY for errors, then upload the file again as a new batch.")));
		return rows;
	}
	ir_batch_transition(batch, IR_STAGED, NULL);
	ir_report_duplicate_file(batch);
	return rows;
}
