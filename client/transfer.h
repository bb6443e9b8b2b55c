/* SPDX-License-Identifier: MIT */
/*
 * transfer.h - moving signed records in and out of praxisd as JSON Lines: export and
 * import (docs/json.md, "Export and import").
 */
#ifndef PX_TRANSFER_H
#define PX_TRANSFER_H

#include "cli.h"

int px_transfer_export(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                       char **argv);
int px_transfer_import(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                       char **argv);

#endif
