/*
 * metrics.h - evaluation arithmetic for `fieldgate eval`: confusion matrices,
 * accuracy, precision, recall, F1, baselines, root mean squared error. Pure and allocation-free.
 */
#ifndef FIELDGATE_MODELS_METRICS_H
#define FIELDGATE_MODELS_METRICS_H

#include <stddef.h>

#include "models/model.h"

struct confusion {
	size_t k;                                       /* classes */
	size_t n;                                       /* rows counted */
	size_t m[MODEL_MAX_CLASSES][MODEL_MAX_CLASSES]; /* m[actual][predicted] */
};

/* Start an empty k-class matrix (k <= MODEL_MAX_CLASSES). */
void confusion_init(struct confusion *c, size_t k);
/* Count one row; labels outside 0..k-1 are ignored and return -1. */
int confusion_add(struct confusion *c, int actual, int predicted);
/* Fraction of rows on the diagonal; 0 when empty. */
double confusion_accuracy(const struct confusion *c);
/* Of the rows predicted cls, the share that are cls; 0 when never predicted. */
double confusion_precision(const struct confusion *c, size_t cls);
/* Of the rows that are cls, the share predicted cls; 0 when there are none. */
double confusion_recall(const struct confusion *c, size_t cls);
/* Harmonic mean of the two, 2 tp / (2 tp + fp + fn); 0 when tp is 0. */
double confusion_f1(const struct confusion *c, size_t cls);
/* The share of rows that are cls: the accuracy of always answering cls (the
 * all-normal baseline for cls 0); 0 when empty. */
double confusion_share(const struct confusion *c, size_t cls);

struct rmse { size_t n; double sum_sq; };
void rmse_init(struct rmse *r);
void rmse_add(struct rmse *r, double actual, double predicted);
double rmse_value(const struct rmse *r); /* 0 when empty */

#endif
