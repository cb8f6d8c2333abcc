#include "app/cli.h"

int main(int argc, char** argv) {
  return insightd::app::run_cli(argc, argv);
}
