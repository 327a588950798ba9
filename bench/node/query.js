'use strict';
// Query side of bench/sidebyside.py: one GoogleSQL query run with
// @google-cloud/bigquery and every result row read into JavaScript values.
//
//   node query.js --project P --sql "SELECT ..." [--params JSON] [--page 10000]
//
// bigquery.query() (the jobs.query fast path, as bqstream_fdw uses), with
// useQueryCache false and maxResults --page (the FDW's fetch_size, 10,000 by
// default) for the first page, then job.getQueryResults() page after page
// with the same maxResults until there is no pageToken. The client converts
// every cell (numbers, BigQueryTimestamp objects) and the rows are kept in an
// array, as `const [rows] = await bigquery.query(...)` would. --params is a
// JSON object of named parameters; a value {"timestamp": "..."} becomes
// bigquery.timestamp(...).
// A warm-up query (SELECT 1) before "go" builds the client; after the
// measurement the script reports row and page counts and, for checking the
// two sides against each other, sums of the numeric columns.

const {parseArgs, ready, startClock, done, bigqueryClient, fail} = require('./common');

async function main() {
  const args = parseArgs({project: 'bench-project', sql: '', params: '{}', page: 10000,
    bigqueryHost: process.env.BIGQUERY_EMULATOR_HOST || ''});
  const bq = bigqueryClient(args.project, args.bigqueryHost);
  const params = {};
  for (const [k, v] of Object.entries(JSON.parse(args.params))) {
    params[k] = v && typeof v === 'object' && 'timestamp' in v ? bq.timestamp(v.timestamp) : v;
  }
  await bq.query({query: 'SELECT 1', useQueryCache: false});
  await ready({sql: args.sql});

  const clock = startClock();
  const query = {query: args.sql, useQueryCache: false, maxResults: args.page};
  if (Object.keys(params).length) query.params = params;
  let [rows, next] = await bq.query(query, {autoPaginate: false, maxResults: args.page});
  const all = rows;
  let pages = 1;
  while (next) {
    [rows, next] = await next.job.getQueryResults(next);
    for (const r of rows) all.push(r);
    pages++;
  }
  const figures = clock();

  const sums = {};
  for (const r of all) {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v === 'number') sums[k] = (sums[k] || 0) + v;
    }
  }
  done({...figures, rows: all.length, pages, sums});
  process.exit(0);
}

main().catch(fail);
