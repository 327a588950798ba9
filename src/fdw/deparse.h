/*-------------------------------------------------------------------------
 *
 * deparse.h
 *	  What deparse.c (the walker, comparisons, text, conditionals and
 *	  aggregates) and deparse_time.c (bounds past BigQuery's range, time
 *	  zones and time buckets) share.  The rest of the FDW uses fdw.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_DEPARSE_H
#define BQSTREAM_DEPARSE_H

#include "fdw/fdw.h"

typedef struct DeparseCtx
{
	RelOptInfo *scanrel;		/* the foreign table's relation */
	Relation	rel;
	bool		upper;			/* aggregates allowed (select list, HAVING) */
	StringInfo	buf;			/* NULL: only checking */
	List	  **params;			/* BqParam of @p1, @p2, ... */
	Node	   *case_arg;		/* a simple CASE's operand, for CaseTestExpr */
	Node	   *filter;			/* a condition whose NULL reads as false */
} DeparseCtx;

/* deparse.c */
extern Node *bq_strip_relabel(Node *node);
extern bool bq_is_value(Node *node);
extern void bq_deparse_text(DeparseCtx *ctx, const char *s);
extern void bq_deparse_param(DeparseCtx *ctx, Node *value, BqParamKind kind);
extern bool bq_deparse_operand(DeparseCtx *ctx, Node *node);

/* deparse_time.c */
extern bool bq_deparse_time_comparison(DeparseCtx *ctx, OpExpr *op, const char *name, bool *handled);
extern bool bq_time_array_in_range(Node *array);
extern bool bq_deparse_date_trunc(DeparseCtx *ctx, FuncExpr *f);
extern bool bq_deparse_date_cast(DeparseCtx *ctx, FuncExpr *f);
extern bool bq_deparse_epoch(DeparseCtx *ctx, Node *node);
extern bool bq_deparse_date_bin(DeparseCtx *ctx, FuncExpr *f);
extern bool bq_deparse_extract_field(DeparseCtx *ctx, FuncExpr *f);
extern Node *bq_epoch_extract_of(Node *node);

#endif							/* BQSTREAM_DEPARSE_H */
