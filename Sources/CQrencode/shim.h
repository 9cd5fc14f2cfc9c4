#ifndef KASSA_CQRENCODE_SHIM_H
#define KASSA_CQRENCODE_SHIM_H
#include <qrencode.h>
#endif
