/*
 * ltv's Spark session extension: spark.sql.extensions=...,ltv.spark.LtvSparkExtensions
 *
 * Registers CollapsePartialAggregates as a pre-columnar physical rule. Those rules run after
 * EnsureRequirements has placed the shuffles, with or without adaptive query execution (in AQE,
 * on each query stage as it is created), which is when a Partial/Final pair without a shuffle
 * between them can be recognised. The rule runs on the driver only: the plan it produces is
 * made of Spark's own operators, so executors need nothing from this jar.
 */
package ltv.spark;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.execution.ColumnarRule;
import org.apache.spark.sql.execution.SparkPlan;

import scala.Function1;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

public final class LtvSparkExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectColumnar(new AbstractFunction1<SparkSession, ColumnarRule>() {
      @Override
      public ColumnarRule apply(SparkSession session) {
        return new ColumnarRule() {
          private final Rule<SparkPlan> rule = new CollapsePartialAggregates();

          @Override
          public Rule<SparkPlan> preColumnarTransitions() {
            return rule;
          }
        };
      }
    });
    return BoxedUnit.UNIT;
  }
}
