/* sluice's version: what `sluice --version` prints and /api/session answers. */
#ifndef SLUICE_VERSION_H
#define SLUICE_VERSION_H

#define SLUICE_VERSION "0.1.0"

#endif
