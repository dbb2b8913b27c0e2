import { AddBoxForm } from '../../../../components/box-form';
import { VmBoxSources } from '../../../../components/hosts/vm-box-sources';
import { PageHeader } from '../../../../components/ui';

export default function NewBoxPage() {
  return (
    <>
      <PageHeader title="Add a box" />
      <AddBoxForm />
      <div className="mt-6">
        <VmBoxSources />
      </div>
    </>
  );
}
