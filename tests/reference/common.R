# Shared by make_reference.R and make_reference_extra.R, which source it first after
# setting script_dir (their own directory): packages, the output directory and the writer
# of the input CSVs Python reads.
#
# outdir: the script's first argument, else script_dir.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else script_dir
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)

full_precision <- function(df) {
  # write.csv keeps 15 significant digits, which would erase the near ties: use 17
  for (v in names(df)) if (is.double(df[[v]]))
    df[[v]] <- ifelse(is.na(df[[v]]), NA, sprintf("%.17g", df[[v]]))
  df
}

# Write <outdir>/data/<name>.csv and return what R reads back: exactly what Python reads.
write_input <- function(df, name) {
  path <- file.path(outdir, "data", paste0(name, ".csv"))
  write.csv(full_precision(df), path, row.names = FALSE, na = "", quote = FALSE)
  read.csv(path, stringsAsFactors = FALSE)
}
