#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "hyperalign/core/error.hpp"

namespace hyperalign {

// Result<T> holds either a value or an Error: expected failures travel as values, not
// exceptions. Accessing the value of a failed Result (or the error of a successful one) is a
// programming error and aborts.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(state_); }
    Error&& take_error() { return std::get<1>(std::move(state_)); }

  private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }
    Error&& take_error() { return std::move(error_); }

  private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace hyperalign

// Returns the error of `expr` from the enclosing function when it failed.
#define HA_TRY(expr)                            \
    do {                                        \
        auto ha_try_result_ = (expr);           \
        if (!ha_try_result_.ok()) {             \
            return ha_try_result_.take_error(); \
        }                                       \
    } while (false)

#define HA_CONCAT_INNER(a, b) a##b
#define HA_CONCAT(a, b) HA_CONCAT_INNER(a, b)

// Declares `lhs` from the value of `expr`, or returns its error.
#define HA_ASSIGN_OR_RETURN(lhs, expr) \
    HA_ASSIGN_OR_RETURN_IMPL(HA_CONCAT(ha_result_, __LINE__), lhs, expr)
#define HA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                           \
    if (!tmp.ok()) {                             \
        return tmp.take_error();                 \
    }                                            \
    lhs = std::move(tmp).value()
