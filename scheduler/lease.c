/* Whether a run is some live engine's: the one test of a run's lease for every command that
 * must not drive a run another engine drives (cancel, resume, approve, logs --follow). */
#include "scheduler/engine.h"

bool engine_drives(const struct run_row *r, int64_t now)
{
    return r->lease_owner && *r->lease_owner && r->lease_expires > now &&
           engine_owner_alive(r->lease_owner);
}
