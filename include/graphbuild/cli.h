/* cli.h - argument parsing, the commands, exit codes (0 ok, 1 failed work,
 * 2 usage or stack error, 130 interrupted). */
#ifndef GRAPHBUILD_CLI_H
#define GRAPHBUILD_CLI_H

int cli_main(int argc, char **argv);

#endif
