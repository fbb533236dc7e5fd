/*
 * triage_main.c - a stand-alone `triage` program for tests and tuning.
 *
 * Owns: nothing but main(); calls triage_cli() exactly as chatd's main does
 * for `chatd triage`, so the triage CLI can be used before chatd links.
 */
#include "triage.h"

int main(int argc, char **argv)
{
    return triage_cli(argc, argv, "moderation/rules");
}
