// Steps of a unit of work that several of the store's repositories take, each
// inside the caller's transaction: making a job runnable, writing an outbox
// row, sealing a batch, creating an analysis job. Not for use outside src/store.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store::detail {

std::string json_text(const boost::json::value& v);

// Tells LISTENing workers (where the Dialect can) that `job_id` is runnable
// now. The notification is delivered at commit, so a worker never wakes for a
// job it cannot see yet. Called once per job that becomes runnable (a sealed
// batch, a manual trigger, a hand-back), never per event: NOTIFY serialises
// commits.
Status notify_runnable(SqlConnection& c, const Dialect& d, std::string_view job_id);

// An outbox row for `topic`, deferred (nothing needs its answer).
Status insert_outbox(SqlConnection& c, std::string_view topic, std::string_view key,
                     const boost::json::object& payload, Timestamp now);

// What every seal writes besides the batch's status: its PENDING job (with a
// wake-up for workers) and the batch.sealed outbox row. Nothing here needs an
// answer from the database, so it travels deferred.
Result<SealedBatch> after_seal(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                               int64_t event_count, SealReason reason, const BatchPolicy& policy,
                               Timestamp now);

// OPEN -> SEALED for a non-empty batch, with its job and outbox row.
Result<SealedBatch> seal_in_tx(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                               SealReason reason, const BatchPolicy& policy, Timestamp now);

// A new PENDING job for a SEALED or ANALYZED batch (the job store's create and
// the dead-letter store's redrive).
Result<Job> create_job_in_tx(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                             JobTrigger trigger, const BatchPolicy& policy, Timestamp now);

}  // namespace insightd::store::detail
