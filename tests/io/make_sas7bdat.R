# Makes the .sas7bdat fixture of tests/io/test_read.py::test_sas7bdat_round_trip.
# There is no Python writer for sas7bdat, so R haven writes it; the test embeds the bytes
# (zlib-compressed, base64) as _SAS7BDAT. Regenerate with:
#   Rscript tests/io/make_sas7bdat.R > /tmp/sas7bdat.b64
# and paste the printed text into _SAS7BDAT (the bytes carry haven's creation time, so a new
# run differs from the committed one only in that header field).
# Needs haven (Debian: r-cran-haven) and jsonlite.
suppressPackageStartupMessages(library(haven))
df <- data.frame(
  patient_id = c("P001", "P002", "P003", "P004"),
  name = c("M\u00fcller", "Gr\u00f6\u00dfe", "\u00d8ster", ""),
  age = c(61, NA, 47, 70),
  dfi_months = c(12.5, NA, 3.25, 0),
  op_date = as.Date(c("2019-03-01", NA, "2020-12-31", "2001-01-15")),
  stringsAsFactors = FALSE
)
path <- tempfile(fileext = ".sas7bdat")
write_sas(df, path)
raw <- readBin(path, "raw", file.info(path)$size)
cat(gsub("\n", "", jsonlite::base64_enc(memCompress(raw, "gzip"))), "\n")
