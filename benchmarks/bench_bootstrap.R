# Timing of R boot::boot over survival::coxph: R bootstrap refits of a Cox model (Efron ties)
# on the bundled IRLM cohort (n 5,206; complete cases of the covariates), the reference of
# benchmarks/bench_bootstrap.py (which runs this script as a whole process and times it).
#   Rscript benchmarks/bench_bootstrap.R PATIENTS_CSV REPLICATES SEED [OUT_JSON]
# The covariates are coded as metsurv codes them (schema reference levels, relevel()).
suppressPackageStartupMessages({library(survival); library(boot); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
R <- as.integer(args[2])
set.seed(as.integer(args[3]))
d$os_event <- as.integer(d$vital_status == "dead")
d$os_months <- as.numeric(as.Date(d$last_followup_date) - as.Date(d$metastasectomy_date)) /
  (365.25 / 12)
d$complete_resection <- relevel(factor(d$resection_status == "R0"), ref = "TRUE")
d$n_metastases_group <- relevel(factor(ifelse(is.na(d$n_metastases), NA,
  ifelse(d$n_metastases == 1, "1", ifelse(d$n_metastases <= 3, "2-3", ">=4")))), ref = "1")
d$histology_group <- relevel(factor(d$histology_group), ref = "epithelial")
d$male <- as.integer(d$sex == "male")
d <- na.omit(d[, c("os_months", "os_event", "complete_resection", "n_metastases_group",
                   "histology_group", "male")])
f <- Surv(os_months, os_event) ~ complete_resection + n_metastases_group + histology_group + male
stat <- function(data, i) coef(coxph(f, data = data[i, ], ties = "efron"))
t0 <- Sys.time()
b <- boot(d, stat, R = R)
el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
out <- list(n = nrow(d), replicates = R, boot_seconds = el, t0 = as.list(b$t0),
            se = as.list(apply(b$t, 2, sd)))
txt <- toJSON(out, auto_unbox = TRUE, digits = NA)
if (length(args) >= 4) writeLines(txt, args[4]) else cat(txt, "\n")
