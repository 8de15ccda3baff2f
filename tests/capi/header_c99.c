/* wis2mon.h compiles alone as strict C99 (built with -std=c99 -pedantic -Werror). */
#include "wis2mon.h"

int main(void) {
  wis2mon_value v = {WIS2MON_FIELD_NULL, 0, 0, 0.0, 0};
  return (wis2mon_version() != 0 && v.type == 0) ? 0 : 1;
}
