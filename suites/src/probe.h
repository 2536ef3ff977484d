/*
 * probe.h: what the CPU says about the machine it runs on (PROTOCOL.md,
 * "probe").  The facts only; runners/classify.py draws the conclusions.
 */
#ifndef RINGBENCH_PROBE_H
#define RINGBENCH_PROBE_H

#include "json.h"

/* Appends the probe object ({"format":..,"arch":..,"cpuid":{..}}) to j. */
void rb_probe_json(struct json *j);

#endif
