/*
 * ltv: one physical-plan rule for Spark, loaded by LtvSparkExtensions.
 *
 * Spark plans every hash aggregation as two operators: a Partial one that pre-aggregates each
 * input partition and a Final one that merges the partial buffers after a shuffle on the
 * grouping keys. When the input is already clustered on those keys (after a repartition on them,
 * a join on them, or with one partition), EnsureRequirements inserts no shuffle and both
 * operators run back to back in the same task on the same rows: the Final operator builds a
 * second hash map exactly as big as the first, only to merge buffers that are already complete.
 * ltv's per-customer features are such aggregations (rows are repartitioned by customer once),
 * and the duplicate hash maps were ~40% of the 10M-row RFM query's aggregation time.
 *
 * This rule replaces such a pair by ONE aggregation in Complete mode over the Partial's input,
 * which is what Spark itself plans for aggregates that cannot be split. It applies only when
 * every condition below holds, and leaves the plan untouched otherwise:
 *   - a HashAggregateExec whose direct child is a HashAggregateExec (no exchange between them),
 *     neither streaming;
 *   - the child is a first phase (no required distribution) and the parent a second phase (one);
 *   - every child aggregate is Partial and every parent aggregate Final, pairwise the same
 *     aggregate (result id), none DISTINCT and none with a FILTER clause;
 *   - the grouping keys are plain attributes, the same ones in the same order on both sides;
 *   - the child's input partitioning satisfies the parent's required distribution.
 * spark.ltv.collapsePartialAggregates.enabled=false (a SQL conf, per session) turns it off.
 */
package ltv.spark;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.aggregate.AggregateExpression;
import org.apache.spark.sql.catalyst.expressions.aggregate.Complete$;
import org.apache.spark.sql.catalyst.expressions.aggregate.Final$;
import org.apache.spark.sql.catalyst.expressions.aggregate.Partial$;
import org.apache.spark.sql.catalyst.plans.physical.Distribution;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.aggregate.HashAggregateExec;

import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractPartialFunction;

public final class CollapsePartialAggregates extends Rule<SparkPlan> {
  public static final String ENABLED = "spark.ltv.collapsePartialAggregates.enabled";

  @Override
  public SparkPlan apply(SparkPlan plan) {
    if (!"true".equalsIgnoreCase(conf().getConfString(ENABLED, "true").trim())) {
      return plan;
    }
    return (SparkPlan) plan.transformUp(new AbstractPartialFunction<SparkPlan, SparkPlan>() {
      @Override
      public boolean isDefinedAt(SparkPlan node) {
        return collapsible(node);
      }

      @Override
      public <A1 extends SparkPlan, B1> B1 applyOrElse(A1 node, scala.Function1<A1, B1> fallback) {
        if (!collapsible(node)) {
          return fallback.apply(node);
        }
        @SuppressWarnings("unchecked")
        B1 result = (B1) collapse((HashAggregateExec) node);
        return result;
      }
    });
  }

  /** True when {@code node} is a Final aggregate directly over its Partial half, as described above. */
  static boolean collapsible(SparkPlan node) {
    if (!(node instanceof HashAggregateExec) || !(((HashAggregateExec) node).child() instanceof HashAggregateExec)) {
      return false;
    }
    HashAggregateExec last = (HashAggregateExec) node;
    HashAggregateExec first = (HashAggregateExec) last.child();
    if (last.isStreaming() || first.isStreaming()
        || first.requiredChildDistributionExpressions().isDefined()
        || last.requiredChildDistributionExpressions().isEmpty()) {
      return false;
    }
    List<AggregateExpression> lastAggs = list(last.aggregateExpressions());
    List<AggregateExpression> firstAggs = list(first.aggregateExpressions());
    if (lastAggs.size() != firstAggs.size()) {
      return false;
    }
    for (int i = 0; i < lastAggs.size(); i++) {
      AggregateExpression l = lastAggs.get(i);
      AggregateExpression f = firstAggs.get(i);
      if (l.mode() != Final$.MODULE$ || f.mode() != Partial$.MODULE$ || l.isDistinct() || f.isDistinct()
          || l.filter().isDefined() || f.filter().isDefined() || !l.resultId().equals(f.resultId())) {
        return false;
      }
    }
    List<NamedExpression> lastKeys = list(last.groupingExpressions());
    List<NamedExpression> firstKeys = list(first.groupingExpressions());
    if (lastKeys.size() != firstKeys.size() || last.initialInputBufferOffset() != firstKeys.size()) {
      return false;
    }
    for (int i = 0; i < lastKeys.size(); i++) {
      if (!(firstKeys.get(i) instanceof Attribute) || !(lastKeys.get(i) instanceof Attribute)
          || !firstKeys.get(i).exprId().equals(lastKeys.get(i).exprId())) {
        return false;
      }
    }
    List<Distribution> required = list(last.requiredChildDistribution());
    return required.size() == 1 && first.child().outputPartitioning().satisfies(required.get(0));
  }

  /** One Complete-mode aggregate over the Partial's input, with the Final's output. */
  static SparkPlan collapse(HashAggregateExec last) {
    HashAggregateExec first = (HashAggregateExec) last.child();
    List<AggregateExpression> complete = new ArrayList<>();
    for (AggregateExpression e : list(last.aggregateExpressions())) {
      complete.add(e.copy(e.aggregateFunction(), Complete$.MODULE$, e.isDistinct(), e.filter(), e.resultId()));
    }
    HashAggregateExec merged = new HashAggregateExec(
        last.requiredChildDistributionExpressions(),
        false,
        last.numShufflePartitions(),
        first.groupingExpressions(),
        seq(complete),
        last.aggregateAttributes(),
        0,
        last.resultExpressions(),
        first.child());
    if (last.logicalLink().isDefined()) {
      merged.setLogicalLink(last.logicalLink().get());
    }
    return merged;
  }

  private static <T> List<T> list(scala.collection.Seq<T> seq) {
    return CollectionConverters.asJava(seq);
  }

  private static <T> Seq<T> seq(List<T> items) {
    return CollectionConverters.asScala(items).toList();
  }
}
