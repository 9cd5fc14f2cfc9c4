#ifndef KASSA_CHIREDIS_SHIM_H
#define KASSA_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
