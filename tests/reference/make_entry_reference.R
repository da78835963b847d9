#!/usr/bin/env Rscript
# Reference values for delayed entry (left truncation) as the loader derives it from a
# registry export that records the date each patient entered the registry.
#
# Usage: Rscript tests/reference/make_entry_reference.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/entry_registry.csv
#   (a registry export with German column names and dates, as Python reads it through a
#   mapping) and <outdir>/entry.json (R survival's left-truncated Kaplan-Meier fits, full
#   precision). Needs survival, jsonlite and common.R beside it. Deterministic (set.seed).
#
# R derives the times itself, by the rules of docs/schema.md (months of 30.4375 days; entry
# on or before the operation is entry 0; a row with entry >= the end of follow-up cannot
# be analysed left-truncated; DFS that ended at or before entry is missing), so the test
# checks the loader's derivation and the estimator together.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

set.seed(20260130)
n <- 90
op <- as.Date("2005-01-01") + sample(0:60, n, replace = TRUE)
# a referral centre: about 2/3 registered after their metastasectomy (up to ~3 years),
# the rest before it (entry 0, no truncation); whole days give ties in entry and exit times
late <- runif(n) < 0.65
entry_days <- ifelse(late, sample(1:1100, n, replace = TRUE), -sample(0:400, n, replace = TRUE))
fu_days <- sample(30:3650, n, replace = TRUE)
dead <- runif(n) < 0.6
rec_days <- ifelse(runif(n) < 0.5, pmax(1, round(fu_days * runif(n))), NA)
export <- data.frame(
  PatNr = sprintf("P%03d", seq_len(n)),
  OP_Datum = format(op, "%d.%m.%Y"),
  Aufnahmedatum = format(op + entry_days, "%d.%m.%Y"),
  Letzter_Kontakt = format(op + fu_days, "%d.%m.%Y"),
  Status = ifelse(dead, "verstorben", "lebend"),
  Rezidiv_Datum = ifelse(is.na(rec_days), "", format(op + rec_days, "%d.%m.%Y")),
  Resektion = ifelse(runif(n) < 0.7, "R0", "R1"),
  stringsAsFactors = FALSE
)
# edge rows: entry on the day of the last follow-up, entry after it (both excluded), entry
# on the day of the operation, entry on another patient's day of death (not at risk then)
export$Aufnahmedatum[1] <- export$Letzter_Kontakt[1]
export$Aufnahmedatum[2] <- format(as.Date(export$Letzter_Kontakt[2], "%d.%m.%Y") + 10, "%d.%m.%Y")
export$Aufnahmedatum[3] <- export$OP_Datum[3]
export$OP_Datum[4] <- export$OP_Datum[5]
export$Aufnahmedatum[4] <- format(as.Date(export$OP_Datum[5], "%d.%m.%Y") +
  (as.Date(export$Letzter_Kontakt[5], "%d.%m.%Y") - as.Date(export$OP_Datum[5], "%d.%m.%Y")),
  "%d.%m.%Y")
export$Letzter_Kontakt[4] <- format(as.Date(export$Aufnahmedatum[4], "%d.%m.%Y") + 400, "%d.%m.%Y")
export$Status[5] <- "verstorben"

path <- file.path(outdir, "data", "entry_registry.csv")
write.csv(export, path, row.names = FALSE, quote = FALSE)
d <- read.csv(path, stringsAsFactors = FALSE, na.strings = "")

day <- function(x) as.Date(x, "%d.%m.%Y")
months <- function(a, b) as.numeric(day(b) - day(a)) / 30.4375
d$os <- months(d$OP_Datum, d$Letzter_Kontakt)
d$status <- as.integer(d$Status == "verstorben")
d$entry <- pmax(0, months(d$OP_Datum, d$Aufnahmedatum))
rec <- months(d$OP_Datum, d$Rezidiv_Datum)
placed <- !is.na(rec) & rec >= 0 & rec <= d$os
d$dfs <- ifelse(placed, rec, d$os)
d$dfs_event <- as.integer(placed | d$status == 1)
excluded <- d$entry >= d$os
kept <- d[!excluded, ]
dfs_ok <- kept$dfs > kept$entry

fit_list <- function(fit) {
  s <- summary(fit, censored = TRUE)
  out <- list(time = s$time, n_risk = s$n.risk, n_event = s$n.event, surv = s$surv,
              std_err = s$std.err, lower = s$lower, upper = s$upper)
  if (!is.null(s$strata)) out$strata <- as.character(s$strata)
  out
}
os_fit <- survfit(Surv(entry, os, status) ~ 1, data = kept, conf.type = "log-log")
os_by <- survfit(Surv(entry, os, status) ~ Resektion, data = kept, conf.type = "log-log")
dfs_fit <- survfit(Surv(entry, dfs, dfs_event) ~ 1, data = kept[dfs_ok, ],
                   conf.type = "log-log")
naive <- survfit(Surv(os, status) ~ 1, data = kept, conf.type = "log-log")
x <- list(
  n_read = nrow(d),
  excluded_ids = d$PatNr[excluded],
  dfs_missing_ids = kept$PatNr[!dfs_ok],
  entry_months = setNames(as.list(kept$entry), kept$PatNr),
  os = c(call = "survfit(Surv(entry, os, status) ~ 1, conf.type = 'log-log')", fit_list(os_fit)),
  os_by_resection = c(call = paste("survfit(Surv(entry, os, status) ~ Resektion,",
                                   "conf.type = 'log-log')"), fit_list(os_by)),
  dfs = c(call = "survfit(Surv(entry, dfs, dfs_event) ~ 1, conf.type = 'log-log')",
          fit_list(dfs_fit)),
  os_ignoring_entry = c(call = "survfit(Surv(os, status) ~ 1, conf.type = 'log-log')",
                        fit_list(naive)),
  generated_by = "tests/reference/make_entry_reference.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival"))
)
write_json(x, file.path(outdir, "entry.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE,
           na = "null")
