import { defineDomain } from "../shared/domain";
import { financeEndpoints } from "./finance_handlers";
import { FinanceRepository } from "./finance_repository";

/** The finance service: its repository on the process's router, and its endpoints. */
export const financeDomain = defineDomain("finance", ({ router, codec }) =>
  financeEndpoints(new FinanceRepository(router), codec),
);
