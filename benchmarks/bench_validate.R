# Timing of R rms::validate(cph(...), method = "boot", B) on the bundled IRLM cohort (n 5,206;
# complete cases of the covariates), the reference of benchmarks/bench_validate.py (which
# runs this script as a whole process and times it).
#   Rscript benchmarks/bench_validate.R PATIENTS_CSV REPLICATES SEED [OUT_JSON]
# The covariates are derived as metsurv's loader derives them (bench_bootstrap.R).
suppressPackageStartupMessages({library(rms); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
B <- as.integer(args[2])
set.seed(as.integer(args[3]))
d$os_event <- as.integer(d$vital_status == "dead")
d$os_months <- as.numeric(as.Date(d$last_followup_date) - as.Date(d$metastasectomy_date)) /
  (365.25 / 12)
d$complete_resection <- as.integer(d$resection_status == "R0")
d$n_metastases_group <- relevel(factor(ifelse(is.na(d$n_metastases), NA,
  ifelse(d$n_metastases == 1, "1", ifelse(d$n_metastases <= 3, "2-3", ">=4")))), ref = "1")
d$histology_group <- relevel(factor(d$histology_group), ref = "epithelial")
d$male <- as.integer(d$sex == "male")
d$age <- d$age_at_metastasectomy
d <- na.omit(d[, c("os_months", "os_event", "complete_resection", "n_metastases_group",
                   "histology_group", "male", "age")])
t0 <- Sys.time()
f <- cph(Surv(os_months, os_event) ~ complete_resection + n_metastases_group +
           histology_group + male + age, data = d, x = TRUE, y = TRUE, surv = TRUE)
v <- rms::validate(f, method = "boot", B = B)
el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
out <- list(n = nrow(d), B = B, validate_seconds = el,
            index = rownames(v), index_orig = unname(v[, "index.orig"]),
            index_corrected = unname(v[, "index.corrected"]), n_ok = unname(v[1, "n"]))
txt <- toJSON(out, auto_unbox = TRUE, digits = NA)
if (length(args) >= 4) writeLines(txt, args[4]) else cat(txt, "\n")
