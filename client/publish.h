/* SPDX-License-Identifier: MIT */
/* publish.h - the commands that add records through praxisd: publish, correct, retract. */
#ifndef PX_PUBLISH_H
#define PX_PUBLISH_H

#include "cli.h"

int px_publish_run(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc, char **argv);
int px_publish_correct(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                       char **argv);
int px_publish_retract(const struct px_cli_command *cmd, struct px_cli_ctx *ctx, int argc,
                       char **argv);

#endif
