from waymark_kernel.migrations import run_env

run_env()
