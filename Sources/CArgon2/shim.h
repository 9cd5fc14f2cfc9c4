#ifndef KASSA_CARGON2_SHIM_H
#define KASSA_CARGON2_SHIM_H
#include <argon2.h>
#endif
