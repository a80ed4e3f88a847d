// The prefetch hint is an inline function in include/mbox_prefetch.h; this file gives
// SwiftPM a C target to build.
#include "mbox_prefetch.h"
